#!/usr/bin/env bash
# make deb: splits a `make install DESTDIR=STAGE PREFIX=/usr` tree into two Debian packages in OUT:
#   ftptunnel_VERSION_ARCH.deb  the client: binary, man pages (1, 5), completions, the user unit
#   pasvd_VERSION_ARCH.deb      the server: binary, man page (8), completions, units, /etc/pasvd (conffiles),
#                               /srv/ftp, the ftp account (postinst)
# Depends are computed by dpkg-shlibdeps from the binaries; man pages are compressed as Debian policy asks.
set -euo pipefail
cd "$(dirname "$0")/.."
STAGE=$1 OUT=$2
VERSION=${VERSION:?VERSION is not set (make deb sets it)}
ARCH=$(dpkg --print-architecture)
MAINTAINER="ftptunnel maintainers <maintainers@ftptunnel.invalid>"
WORK=$OUT/work
rm -rf "$WORK" "$OUT"/*.deb
mkdir -p "$WORK"

# pkg NAME FILE...: copies the listed staged files (paths under STAGE) into NAME's package tree.
pkg() {
  local name=$1 file; shift
  for file in "$@"; do
    [ -e "$STAGE/$file" ] || { echo "make-deb: $file missing from $STAGE (make install failed?)" >&2; exit 1; }
    install -D -m "$(stat -c %a "$STAGE/$file")" "$STAGE/$file" "$WORK/$name/$file"
  done
}

pkg ftptunnel usr/bin/ftptunnel usr/share/man/man1/ftptunnel.1 usr/share/man/man5/ftptunnel.conf.5 \
  usr/share/bash-completion/completions/ftptunnel usr/share/zsh/vendor-completions/_ftptunnel \
  usr/share/fish/vendor_completions.d/ftptunnel.fish usr/lib/systemd/user/ftptunnel@.service
pkg pasvd usr/sbin/pasvd usr/share/man/man8/pasvd.8 \
  usr/share/bash-completion/completions/pasvd usr/share/zsh/vendor-completions/_pasvd \
  usr/share/fish/vendor_completions.d/pasvd.fish \
  usr/lib/systemd/system/pasvd.service usr/lib/systemd/system/pasvd.socket usr/lib/systemd/system/pasvd@.service \
  etc/pasvd/pasvd.conf etc/pasvd/users
install -d -m 0755 "$WORK/pasvd/srv/ftp"

# Debian ships binaries stripped (the static Swift runtime's symbols are most of an unstripped binary).
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$WORK/ftptunnel/usr/bin/ftptunnel" \
  "$WORK/pasvd/usr/sbin/pasvd"

for name in ftptunnel pasvd; do
  root=$WORK/$name
  gzip -9n "$root"/usr/share/man/man*/*
  install -d "$root/usr/share/doc/$name"
  printf '%s (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- %s  %s\n' "$name" "$VERSION" "$VERSION" \
    "$MAINTAINER" "$(date -R -d "$(git log -1 --format=%cI 2>/dev/null || date -R)")" | gzip -9n >"$root/usr/share/doc/$name/changelog.gz"
  install -d "$root/DEBIAN"
done

# Shared-library dependencies, as dpkg-shlibdeps finds them (it wants a debian/control beside it).
shlibdeps() {  # binary → "libc6 (>= 2.34), …"
  local dir; dir=$(mktemp -d)
  mkdir -p "$dir/debian"
  printf 'Source: ftptunnel\n\nPackage: ftptunnel\nArchitecture: any\n' >"$dir/debian/control"
  (cd "$dir" && dpkg-shlibdeps -O "$OLDPWD/$1" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
  rm -rf "$dir"
}

control() {  # name depends description-lines…
  local name=$1 depends=$2; shift 2
  local size; size=$(du -sk --exclude=DEBIAN "$WORK/$name" | cut -f1)
  {
    echo "Package: $name"
    echo "Version: $VERSION"
    echo "Architecture: $ARCH"
    echo "Maintainer: $MAINTAINER"
    echo "Installed-Size: $size"
    echo "Depends: $depends"
    echo "Section: net"
    echo "Priority: optional"
    printf 'Description: %s\n' "$1"; shift
    for line in "$@"; do echo " $line"; done
  } >"$WORK/$name/DEBIAN/control"
}

control ftptunnel "$(shlibdeps "$WORK/ftptunnel/usr/bin/ftptunnel")" \
  "FTP through one SSH session, for any FTP client" \
  "ftptunnel connect SITE opens one SSH session (libssh2), verifies the host key," \
  "authenticates like OpenSSH and forwards FTP's control port and data connections" \
  "to 127.0.0.1; Mode sftp serves FTP itself over the host's SFTP instead." \
  "Includes a systemd user unit: systemctl --user enable --now ftptunnel@SITE."
control pasvd "$(shlibdeps "$WORK/pasvd/usr/sbin/pasvd"), adduser" \
  "small hardened FTP server for use behind sshd" \
  "pasvd serves FTP on loopback with passive data ports bound to loopback inside a" \
  "fixed range, one process per session running as the session's account, every" \
  "path resolved inside the session root by the kernel (openat2 RESOLVE_IN_ROOT)." \
  "Runs as pasvd.service, or per connection through pasvd.socket."
printf '/etc/pasvd/pasvd.conf\n/etc/pasvd/users\n' >"$WORK/pasvd/DEBIAN/conffiles"
for script in postinst prerm postrm; do
  install -m 0755 "packaging/debian/pasvd.$script" "$WORK/pasvd/DEBIAN/$script"
done

# xz -3: about a tenth larger than the default -6 for a third of the time (the runtime's ICU data dominates).
for name in ftptunnel pasvd; do
  dpkg-deb --build --root-owner-group -Zxz -z3 "$WORK/$name" "$OUT/${name}_${VERSION}_${ARCH}.deb" >/dev/null
  echo "make-deb: $OUT/${name}_${VERSION}_${ARCH}.deb ($(du -h "$OUT/${name}_${VERSION}_${ARCH}.deb" | cut -f1))"
done
rm -rf "$WORK"
