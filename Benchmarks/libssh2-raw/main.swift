import CLibSSH2

// Placeholder: the bare libssh2 direct-tcpip read loop benchmark (issue 5).
print("libssh2 \(String(cString: libssh2_version(0)))")
