#!/usr/bin/env bash
# Installs the Debian packages the build, the tests, the demo and the benchmarks need, when missing.
# Safe to run repeatedly; does nothing when everything is present.
set -euo pipefail

packages=(
  libssh2-1-dev libssl-dev libcrypt-dev pkg-config   # build
  openssh-server openssh-client                       # real sshd and ssh -L
  vsftpd python3-pyftpdlib                            # real third-party FTP servers
  curl lftp python3 rclone inetutils-ftp perl         # real FTP clients (perl: Net::FTP)
  default-jdk-headless libcommons-net-java            # real FTP client: Apache Commons Net (a dual-stack Java client)
  openssl                                             # `openssl passwd -6` hashes in the pasvd tests
  procps time                                         # pkill, /usr/bin/time
  binutils jq                                         # make test: check-syscalls.sh (nm -u, output-file-map.json)
  libstdc++-12-dev                                    # make fuzz: libFuzzer (from the Swift toolchain) is C++
  dpkg-dev                                            # make deb: dpkg-shlibdeps
  man-db groff-base mandoc                            # install test: man pages render and lint clean
  bash-completion zsh fish tmux                       # install test: completions in real shells on a pty
  systemd                                             # install test: systemd-analyze verify on the units
  debootstrap systemd-container libcap2-bin           # systemd test: a Debian root booted by systemd-nspawn; capsh
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# sshd insists on its privilege-separation directory.
[ -d /run/sshd ] || { [ "$(id -u)" -eq 0 ] && mkdir -p /run/sshd || true; }
