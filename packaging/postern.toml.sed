# Turns etc/postern.toml (every key at its built-in default) into the settings file the
# Debian and RPM packages install as /etc/postern/postern.toml. Used by debian/rules and
# rpm/postern.spec; tests/packaging_files.rs checks that every line below matches.
#
# System accounts through PAM, as Debian's and Fedora's other IMAP servers do out of the
# box (the built-in default, the user file, needs /etc/postern/users first).
s|^backend = "userfile"$|backend = "pam"           # package default; built-in: "userfile"|
# PAM services of postern's own: courier-imap, courier-pop and uw-imapd own
# /etc/pam.d/imap and /etc/pam.d/pop3.
s|^pam_service_imap = "imap"$|pam_service_imap = "postern-imap"   # package default; built-in: "imap"|
s|^pam_service_pop3 = "pop3"$|pam_service_pop3 = "postern-pop3"   # package default; built-in: "pop3"|
1i\
# Installed by the postern package; "postern config check" checks it after an edit.
