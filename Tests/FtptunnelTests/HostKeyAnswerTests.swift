import FTPCore
import TunnelCore
import Testing
@testable import ftptunnel

/// The host-key question's answers, as OpenSSH reads them.
@Suite struct HostKeyAnswerTests {
    static let fingerprint = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"

    @Test func yesNoAndThePresentedFingerprint() {
        #expect(HostKeyAnswer("yes", fingerprint: Self.fingerprint) == .accept)
        #expect(HostKeyAnswer("  YES \n", fingerprint: Self.fingerprint) == .accept)
        #expect(HostKeyAnswer(Self.fingerprint + "\n", fingerprint: Self.fingerprint) == .accept)
        #expect(HostKeyAnswer("no", fingerprint: Self.fingerprint) == .refuse)
        #expect(HostKeyAnswer("", fingerprint: Self.fingerprint) == .refuse)
    }

    @Test func anotherFingerprintIsARefusalAndAnythingElseIsAskedAgain() {
        #expect(HostKeyAnswer("SHA256:AAAAQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", fingerprint: Self.fingerprint)
                == .otherFingerprint("SHA256:AAAAQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"))
        #expect(HostKeyAnswer("y", fingerprint: Self.fingerprint) == .askAgain)
        #expect(HostKeyAnswer("yess", fingerprint: Self.fingerprint) == .askAgain)
        #expect(HostKeyAnswer("sure thing", fingerprint: Self.fingerprint) == .askAgain)
    }

    @Test func theQuestionIsOpenSSHs() {
        #expect(HostKeyAnswer.question == "Are you sure you want to continue connecting (yes/no/[fingerprint])? ")
    }

    @Test func readyLinesFitOneHundredColumns() {
        let ready = TunnelReady(localPort: 65535, bindAddress: "127.0.0.1", passivePorts: PortRange(lower: 40000, upper: 40009), onDemand: true)
        for mode in [TunnelSettings.Mode.rewrite, .fixed, .sftp] {
            let line = "ftptunnel: " + ReadyLine.summary(ready, mode: mode)
            #expect(line.count <= 100, "\(line.count): \(line)")
        }
        #expect(ReadyLine.summary(ready, mode: .rewrite).contains("Only use plain FTP"))
    }
}
