/// Named FTP reply codes (RFC 959, 2228, 2389, 2428, 3659), in the spirit of vsftpd's ftpcodes.h.
public enum ReplyCode {
    public static let restartMarker = 110
    public static let dataConnectionAlreadyOpen = 125
    public static let fileStatusOK = 150
    public static let commandOK = 200
    public static let commandSuperfluous = 202
    public static let systemStatus = 211
    public static let directoryStatus = 212
    public static let fileStatus = 213
    public static let help = 214
    public static let systemType = 215
    public static let serviceReady = 220
    public static let closingControl = 221
    public static let dataConnectionOpen = 225
    public static let closingData = 226
    public static let enteringPassive = 227
    public static let enteringExtendedPassive = 229
    public static let loggedIn = 230
    public static let authOK = 234
    public static let fileActionOK = 250
    public static let pathCreated = 257
    public static let needPassword = 331
    public static let pendingFurtherInformation = 350
    public static let serviceNotAvailable = 421
    public static let cannotOpenData = 425
    public static let transferAborted = 426
    public static let fileUnavailableBusy = 450
    public static let localError = 451
    public static let insufficientStorage = 452
    public static let syntaxError = 500
    public static let parameterSyntaxError = 501
    public static let notImplemented = 502
    public static let badSequence = 503
    public static let parameterNotImplemented = 504
    /// RFC 2428: EPRT/EPSV with an address family the server does not support.
    public static let networkProtocolNotSupported = 522
    public static let notLoggedIn = 530
    public static let extendedPortProtocolNotSupported = 522
    public static let authNotAvailable = 534
    public static let fileUnavailable = 550
    public static let pageTypeUnknown = 551
    public static let exceededStorage = 552
    public static let fileNameNotAllowed = 553
}
