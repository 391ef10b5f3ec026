import Foundation
import Testing
@testable import TunnelCore

/// ProxyJump (profile, ~/.ssh/config, -J) and ProxyCommand resolve into a hop chain, each hop from its own Host block.
@Suite struct ProfileProxyTests {
    @Test func jumpHostsTakeTheirOwnHostBlocks() throws {
        let world = try ProfileTestWorld()
        try world.sshConfig(
            "Host site", "  HostName 10.0.0.5", "  ProxyJump bastion,ops@inner:2022", "  UserKnownHostsFile ~/kh-site",
            "  StrictHostKeyChecking accept-new",
            "Host bastion", "  HostName 127.0.0.1", "  Port 2200", "  User jump", "  IdentityFile ~/.ssh/bastion_key",
            "Host inner", "  HostName 10.0.0.1", "  User ignored", "  UserKnownHostsFile ~/kh-inner")
        let r = try world.resolve("site")
        let hops = r.settings.jumpHosts
        try #require(hops.count == 2)
        #expect(hops[0].sshEndpoint == "jump@127.0.0.1:2200")
        #expect(hops[0].identityFiles == ["\(world.home)/.ssh/bastion_key"])
        #expect(hops[0].knownHostsFiles == ["\(world.home)/kh-site"], "no UserKnownHostsFile of its own: the destination's")
        #expect(hops[1].sshEndpoint == "ops@10.0.0.1:2022", "user@ and :port of the hop win over its Host block")
        #expect(hops[1].knownHostsFiles == ["\(world.home)/kh-inner"])
        #expect(hops.allSatisfy { $0.strictHostKeyChecking == .acceptNew })
        #expect(r.hopLines.count == 2 && r.hopLines[0].hasPrefix("hop 1 of 2: jump@127.0.0.1:2200"))
        #expect(r.sources["ProxyJump"] == "~/.ssh/config:3")
    }

    @Test func dashJWinsOverTheConfigAndNoneSwitchesItOff() throws {
        let world = try ProfileTestWorld()
        try world.sshConfig("Host site", "  ProxyJump bastion", "  ProxyCommand ignored-because-second")
        let viaJ = try world.resolve("site") { $0.proxyJump = "me@[::1]:2222" }
        #expect(viaJ.settings.jumpHosts.map(\.sshEndpoint) == ["me@[::1]:2222"])
        #expect(viaJ.sources["ProxyJump"] == "command line (-J)")
        let off = try world.resolve("site") { $0.proxyJump = "none" }
        #expect(off.settings.jumpHosts.isEmpty && off.settings.proxyCommand == nil)
        #expect(try world.resolve("site").settings.proxyCommand == nil, "ProxyJump came first, so ProxyCommand is ignored")
    }

    @Test func proxyCommandTokensAreExpandedAndQuotesKept() throws {
        let world = try ProfileTestWorld()
        try world.sshConfig("Host site", "  HostName 10.0.0.5", "  User deploy", "  Port 2200",
                            "  ProxyCommand ssh -W %h:%p -l \"%r\" 'jump host' # %n%%")
        let s = try world.resolve("site").settings
        #expect(s.proxyCommand == "ssh -W 10.0.0.5:2200 -l deploy 'jump host'")
        try world.sshConfig("Host site", "  ProxyCommand nc %h %p %n %%x")
        #expect(try world.resolve("site").settings.proxyCommand == "nc site 22 site %x")
        try world.sshConfig("Host site", "  ProxyCommand nc %z")
        let error = try #require(throws: ProfileError.self) { try world.resolve("site") }
        #expect(error.description.hasPrefix("~/.ssh/config:2: ProxyCommand"), "\(error)")
    }

    @Test func aProfilesProxyJumpWinsOverTheSSHConfigsAndItsHopsStillUseTheirHostBlocks() throws {
        let world = try ProfileTestWorld()
        try world.sshConfig("Host files.example", "  ProxyJump elsewhere", "Host gw", "  User gwuser", "  Port 2202")
        try world.profile("site", "HostName files.example", "ProxyJump gw")
        let r = try world.resolve("site")
        #expect(r.settings.jumpHosts.map(\.sshEndpoint) == ["gwuser@gw:2202"])
        #expect(r.sources["ProxyJump"] == "\(ProfileTestWorld.profileDisplayDirectory)/site.conf:2")
    }

    @Test func aProfileMayNotSetBothAndBadHopsNameTheLine() throws {
        let world = try ProfileTestWorld()
        let both = try world.profileError(["HostName h", "ProxyJump b", "ProxyCommand nc %h %p"])
        #expect(both.description.hasPrefix("\(ProfileTestWorld.profileDisplayDirectory)/p.conf:3: "), "\(both)")
        for bad in ["ProxyJump a,,b", "ProxyJump user@", "ProxyJump a:99999"] {
            let error = try world.profileError(["HostName h", bad])
            #expect(error.description.hasPrefix("\(ProfileTestWorld.profileDisplayDirectory)/p.conf:2: ProxyJump"), "\(error)")
        }
    }

    @Test func theFirstHopsOwnProxyIsFollowedAndALoopStops() throws {
        let world = try ProfileTestWorld()
        try world.sshConfig("Host site", "  ProxyJump inner", "Host inner", "  ProxyJump outer",
                            "Host outer", "  ProxyCommand connect-outer %h")
        let hops = try world.resolve("site").settings.jumpHosts
        #expect(hops.map(\.sshHost) == ["outer", "inner"])
        #expect(hops[0].proxyCommand == "connect-outer outer" && hops[1].proxyCommand == nil)
        try world.sshConfig("Host a", "  ProxyJump b", "Host b", "  ProxyJump a")
        let error = try #require(throws: ProfileError.self) { try world.resolve("a") }
        #expect(error.description.contains("more than \(JumpHost.maximumHops) hops"), "\(error)")
    }
}
