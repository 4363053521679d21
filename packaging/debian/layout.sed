# Turns the npm layout of systemd/knockd.service and systemd/knockd.logrotate into the Debian
# package's (scripts/build-deb.sh): distinct names, so the package lives next to Debian's knockd.
s#^Documentation=.*#Documentation=man:knockd-ts(8) man:knockd-ts.conf(5) file:/usr/share/doc/knockd-ts/README.md#
s#/usr/local/bin/knockd#/usr/lib/knockd-ts/bin/knockd#g
s#/etc/knockd\.conf#/etc/knockd-ts/knockd.conf#g
s#/etc/default/knockd#/etc/default/knockd-ts#g
s#^User=knockd$#User=knockd-ts#
s#^Group=knockd$#Group=knockd-ts#
s#^StateDirectory=knockd$#StateDirectory=knockd-ts#
s#^LogsDirectory=knockd$#LogsDirectory=knockd-ts#
s#/var/log/knockd/#/var/log/knockd-ts/#g
s#su knockd knockd#su knockd-ts knockd-ts#
s#create 0640 knockd knockd#create 0640 knockd-ts knockd-ts#
s#knockd\.service#knockd-ts.service#g
