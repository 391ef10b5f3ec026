// Prints ftptunnel.conf(5) from the profile keyword table (`make install` and `make deb` run it):
//   profile-manual --date YYYY-MM-DD    the man page, roff
//   profile-manual --markdown           the keyword table of profiles/README.md
import Foundation
import TunnelCore

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments == ["--markdown"] {
    print(ProfileManualPage.markdownTable(), terminator: "")
} else if arguments.count == 2, arguments[0] == "--date" {
    print(ProfileManualPage.roff(date: arguments[1]), terminator: "")
} else {
    FileHandle.standardError.write(Data("usage: profile-manual --date YYYY-MM-DD | --markdown\n".utf8))
    exit(2)
}
