/// When an upload appears under its own name: pasvd's `--upload-visibility` and the bridge's `SFTPUploads`.
/// - `atomic`: written elsewhere (an unnamed or temporary file) and put in place only when complete, so nobody
///   ever sees a partial file and a failed upload leaves the previous one intact (ProFTPD's HiddenStores).
/// - `immediate`: written under its own name from the first byte (vsftpd's and ProFTPD's default), so a LIST
///   during the upload shows it (curlftpfs needs that); a failed or cut upload leaves the bytes that arrived.
public enum UploadVisibility: String, CaseIterable, Sendable {
    case atomic
    case immediate
}
