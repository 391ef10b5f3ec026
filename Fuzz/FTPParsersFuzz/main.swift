// libFuzzer target: the FTP wire-format parsers shared by ftptunnel and pasvd. The first byte picks a line cap and
// a read size; the rest is a byte stream fed to each parser, whose promises are checked.
import FuzzSupport

FuzzMain.run { bytes in
    var input = FuzzInput(bytes)
    let cap = input.number(in: 8...200)
    let readSize = input.number(in: 1...64)
    let stream = input.rest()
    LineCodecChecks.lineFramer(stream, cap: cap, readSize: readSize)
    let lines = LineCodecChecks.rawLineSplitter(stream, cap: cap, readSize: readSize)
    ReplyChecks.replyParser(lines)
    for line in lines {
        ReplyChecks.passiveEndpoints(line)
        CommandChecks.commandLine(line)
    }
}
