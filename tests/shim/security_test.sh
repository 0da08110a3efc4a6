#!/usr/bin/env bash
# Issue 15: the shim never widens access and cannot be turned against its
# host.  As a hostile local user would try it: metadata files planted as
# symlinks, metadata modes and owners, the log (names with newlines, a log
# path that is a symlink), unprivileged readers and read-only mounts,
# read-only opens that must change nothing, descriptors received over
# SCM_RIGHTS or opened by handle, openat without /proc, and `run` on a
# setuid program.  Needs root (it creates an unprivileged user and mounts
# tmpfs in private mount namespaces); exit 77 where the machine forbids it.
# Usage: security_test.sh PATH/TO/csumshim PATH/TO/fd_arrivals
set -u
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root (creates a user, mounts tmpfs)"
	exit 77
fi
SRC_CS=$(readlink -f "$1") SRC_HELP=$(readlink -f "$2")
SRC_LIB=$("$SRC_CS" run --config /dev/null -- sh -c 'echo "$LD_PRELOAD"' 2>/dev/null)
[ -f "$SRC_LIB" ] || SRC_LIB=$(dirname "$SRC_CS")/libcsumshim.so
T=$(mktemp -d /tmp/csumshim-sec.XXXXXX)
trap 'umount -l "$T"/*/ 2>/dev/null; rm -rf "$T"' EXIT
chmod 755 "$T"
cd "$T" || exit 2
# Copies the unprivileged user can run wherever the build tree lives.
mkdir bin && cp "$SRC_CS" "$SRC_LIB" "$SRC_HELP" bin/ && chmod -R a+rX bin
CS=$T/bin/csumshim LIB=$T/bin/$(basename "$SRC_LIB") HELP=$T/bin/fd_arrivals
export CSUMSHIM_LIBRARY=$LIB

U=csumshim-test
if ! id -u "$U" >/dev/null 2>&1 &&
	! useradd --system --no-create-home --shell /usr/sbin/nologin "$U" 2>useradd.err; then
	echo "SKIP: cannot create user $U: $(cat useradd.err)"
	exit 77
fi
UID_=$(id -u "$U") GID_=$(id -g "$U")

pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { # NAME CONDITION...: the command must succeed
	local name=$1; shift
	if "$@"; then ok; else bad "$name"; fi
}

mkdir p s w
chown "$U:$GID_" w
# p/: interleaved; s/ and the user-writable w/: separate layout.
printf '[global]\nlog = %s\n[%s]\n[%s]\nlayout = separate\n[%s]\nlayout = separate\n' \
	"$T/shim.log" "$T/p/*" "$T/s/*.dat" "$T/w/*.img" >conf
# The same rules for the unprivileged user, logging to its stderr.
sed "s|^log = .*|log = stderr|" conf >uconf
chmod 644 conf uconf
R() { "$CS" run --config "$T/conf" -- "$@"; }
# As the unprivileged user, under the shim.
UR() { setpriv --reuid="$UID_" --regid="$GID_" --clear-groups \
	env LD_PRELOAD="$LIB" CSUMSHIM_CONFIG="$T/uconf" "$@"; }
# As the unprivileged user, without the shim.
UB() { setpriv --reuid="$UID_" --regid="$GID_" --clear-groups "$@"; }
raw() { sha256sum <"$1" | cut -c1-64; }

# --- metadata files planted as symlinks ----------------------------------
printf 'root secret\n' >secret
chmod 600 secret
UB ln -s "$T/secret" w/a.img.csum
R sh -c 'echo data > w/a.img' 2>err
check "symlinked metadata: the write is refused" [ $? -ne 0 ]
check "symlinked metadata: its target is untouched" [ "$(cat secret)" = "root secret" ]
check "symlinked metadata: still a symlink" [ -L w/a.img.csum ]
check "symlinked metadata: no data file left" [ ! -e w/a.img ]
check "symlinked metadata: logged" grep -qF "$T/w/a.img.csum: metadata file is a symbolic link; refused" shim.log
UB ln -s "$T/w/planted" w/b.img.csum
R sh -c 'echo data > w/b.img' 2>err
check "dangling metadata symlink: the write is refused" [ $? -ne 0 ]
check "dangling metadata symlink: creates nothing" [ ! -e w/planted ]
# A metadata file of another owner is not taken either.
UB touch w/d.img.csum
R sh -c ': > w/d.img' 2>/dev/null
check "foreign metadata file: refused" grep -qF "$T/w/d.img.csum: metadata file belongs to uid $UID_, its data file to uid 0; refused" shim.log

# --- metadata mode, owner and group --------------------------------------
(umask 077 && : >s/pin.dat)
R sh -c 'umask 022; echo 1234 >> s/pin.dat'
check "metadata mode of a 0600 file" [ "$(stat -c %a s/pin.dat s/pin.dat.csum | tr '\n' ' ')" = "600 600 " ]
UB sh -c 'umask 027; : > w/e.img'
R sh -c 'echo hi >> w/e.img'
check "metadata owner, group and mode follow the data file" \
	[ "$(stat -c '%u:%g %a' w/e.img.csum)" = "$UID_:$GID_ 640" ]
UR sh -c 'echo more >> '"$T"'/w/e.img' 2>err
check "the owner can then write its file" [ "$(UR cat "$T/w/e.img" 2>&1)" = "$(printf 'hi\nmore')" ]

# --- the log --------------------------------------------------------------
nl='
'
printf 'plain data\n' >"p/x${nl}INJECT.img"
printf 'plain data\n' >"p/e$(printf '\033')[31m.img"
R cat "p/x${nl}INJECT.img" >/dev/null 2>&1
R cat "p/e$(printf '\033')[31m.img" >/dev/null 2>&1
check "a newline in a name injects no line" [ "$(grep -c '^INJECT' shim.log)" = 0 ]
check "a newline in a name is escaped" grep -qF "$T/p/x\\nINJECT.img: not a csumshim file" shim.log
check "an escape character in a name is escaped" grep -qF "$T/p/e\\x1b[31m.img: not a csumshim file" shim.log
printf 'keep\n' >victim
ln -s "$T/victim" loglink
printf '[global]\nlog = %s/loglink\n[%s/p/*]\n' "$T" "$T" >conf2
R2() { "$CS" run --config "$T/conf2" -- "$@"; }
rm -f ran
R2 touch ran 2>err
rc=$?
check "a symlinked log: exit 78" [ $rc = 78 ]
check "a symlinked log: the command does not run" [ ! -e ran ]
check "a symlinked log: one line naming the config line" \
	[ "$(cat err)" = "csumshim: $T/conf2:2: log: $T/loglink is a symbolic link; refused" ]
check "a symlinked log: its target is untouched" [ "$(cat victim)" = keep ]
mkfifo logfifo
printf '[global]\nlog = %s/logfifo\n[%s/p/*]\n' "$T" "$T" >conf2
timeout 10 "$CS" run --config "$T/conf2" -- touch ran 2>err
rc=$?
check "a FIFO as log: exit 78, one line" \
	[ "$rc:$(cat err)" = "78:csumshim: $T/conf2:2: log: $T/logfifo is not a regular file; refused" ]

# --- readers never write; read-only storage works ------------------------
R sh -c 'echo hello > p/r.img; echo hello > s/r.dat'
chmod 644 p/r.img s/r.dat s/r.dat.csum
check "an unprivileged reader reads a root-owned file" [ "$(UR cat "$T/p/r.img" 2>&1)" = hello ]
check "... and a separate-layout one" [ "$(UR cat "$T/s/r.dat" 2>&1)" = hello ]
: >p/empty.img
: >s/empty.dat
R cat p/empty.img s/empty.dat
check "a read-only open does not format an empty file" [ "$(stat -c %s p/empty.img)" = 0 ]
check "a read-only open creates no metadata file" [ ! -e s/empty.dat.csum ]
(R bash -c 'exec 3<>p/u.img; printf hello >&3; kill -9 $$'; true) 2>/dev/null
check "(setup) a file left unclean" grep -qE "^state: +unclean" <("$CS" info p/u.img 2>&1)
before=$(raw p/u.img)
check "an unclean file reads read-only" [ "$(R cat p/u.img)" = hello ]
check "a read-only open does not recover" [ "$(raw p/u.img)" = "$before" ]
check "... and suggests csumshim recover" grep -qF "$T/p/u.img: not closed cleanly; read with caution until 'csumshim recover'" shim.log

# Read-only mounts: a tmpfs remounted read-only, in a private namespace.
if unshare --mount --propagation private true 2>/dev/null; then
	mkdir ro
	printf '[global]\nlog = %s/ro.log\n[%s/ro/*]\n' "$T" "$T" >roconf
	unshare --mount --propagation private bash -c '
		CS=$1 T=$2
		mount -t tmpfs -o mode=755 tmpfs "$T/ro" || exit 77
		"$CS" run --config "$T/roconf" -- sh -c "echo hello > $T/ro/a.img" || exit 3
		("$CS" run --config "$T/roconf" -- bash -c "exec 3<>$T/ro/u.img; printf hello >&3; kill -9 \$\$"; true) 2>/dev/null
		mount -o remount,ro "$T/ro" || exit 77
		"$CS" run --config "$T/roconf" -- cat "$T/ro/a.img" >"$T/ro.out1" 2>"$T/ro.err1"
		"$CS" run --config "$T/roconf" -- cat "$T/ro/u.img" >"$T/ro.out2" 2>"$T/ro.err2"
		exit 0' sh "$CS" "$T"
	rc=$?
	if [ $rc = 77 ]; then
		echo "security_test: read-only mount cases skipped: cannot mount tmpfs here"
	else
		check "a reader on a read-only mount" [ "$rc:$(cat ro.out1)" = "0:hello" ]
		check "an unclean file on a read-only mount" [ "$(cat ro.out2)" = hello ]
		check "... logged with the recover hint" grep -qF "$T/ro/u.img: not closed cleanly; read with caution until 'csumshim recover'" ro.log
	fi
else
	echo "security_test: read-only mount cases skipped: no mount namespaces here"
fi

# --- descriptors that arrive by other ways --------------------------------
check "SCM_RIGHTS (recvmsg): verified content" [ "$(R "$HELP" scm p/r.img 2>&1)" = hello ]
check "SCM_RIGHTS (recvmmsg): verified content" [ "$(R "$HELP" scmm p/r.img 2>&1)" = hello ]
check "SCM_RIGHTS (syscall(SYS_recvmsg)): verified content" [ "$(R "$HELP" scm-sys p/r.img 2>&1)" = hello ]
check "SCM_RIGHTS (syscall(SYS_recvmmsg)): verified content" [ "$(R "$HELP" scmm-sys p/r.img 2>&1)" = hello ]
if "$HELP" pidfd secret >/dev/null 2>pidfd.err; then
	check "pidfd_getfd: verified content" [ "$(R "$HELP" pidfd p/r.img 2>&1)" = hello ]
	check "syscall(SYS_pidfd_getfd): verified content" [ "$(R "$HELP" pidfd-sys p/r.img 2>&1)" = hello ]
else
	echo "security_test: pidfd_getfd case skipped: $(cat pidfd.err)"
fi
if "$HELP" handle secret >/dev/null 2>handle.err; then
	check "open_by_handle_at: verified content" [ "$(R "$HELP" handle p/r.img 2>&1)" = hello ]
	check "syscall(SYS_open_by_handle_at): verified content" [ "$(R "$HELP" handle-sys p/r.img 2>&1)" = hello ]
	# O_PATH moves no data: the kernel's EBADF, not reads served by the shim.
	check "open_by_handle_at(O_PATH): read fails EBADF" sh -c '"$@" 2>&1 | grep -q "read: Bad file descriptor"' sh "$CS" run --config "$T/conf" -- "$HELP" handle-path p/r.img
else
	echo "security_test: open_by_handle_at case skipped: $(cat handle.err)"
fi
# openat(dirfd, name) with /proc unmounted: resolved without it.
if unshare --mount --propagation private sh -c 'umount -l /proc' 2>/dev/null; then
	out=$(unshare --mount --propagation private sh -c '
		umount -l /proc && "$1" run --config "$2/conf" -- "$3" at "$2/p" r.img' \
		sh "$CS" "$T" "$HELP" 2>&1)
	check "openat(dirfd) without /proc: verified content" [ "$out" = hello ]
else
	echo "security_test: /proc-less case skipped: cannot unmount /proc in a mount namespace"
fi

# --- csumshim run on setuid and setgid programs --------------------------
cp /bin/true suid-true
chmod 4755 suid-true
R ./suid-true 2>err
check "run warns about a setuid program" grep -qF "csumshim: warning: ./suid-true is setuid" err
chmod 2755 suid-true
R ./suid-true 2>err
check "run warns about a setgid program" grep -qF "csumshim: warning: ./suid-true is setgid" err

# --- files the command line creates for itself ----------------------------
printf 'root secret\n' >secret2
chmod 600 secret2
UB ln -s "$T/secret2" w/f.img.csum
"$CS" format w/f.img --layout separate --force >out 2>err
check "format --force: a symlinked metadata file is refused" [ "$(cat secret2)" = "root secret" ]
check "format --force: says why" grep -qF "w/f.img.csum: metadata file is a symbolic link; refused" err
UB sh -c 'umask 027; : > w/g.img'
"$CS" format w/g.img --layout separate >/dev/null
check "format: the metadata file follows the data file" \
	[ "$(stat -c '%u:%g %a' w/g.img.csum)" = "$UID_:$GID_ 640" ]
R sh -c 'umask 077; echo secret > p/x.img'
"$CS" export p/x.img x.out >/dev/null
check "export: the copy keeps the source's mode" [ "$(stat -c %a x.out)" = 600 ]

echo "security_test: $pass passed, $fail failed"
[ $fail -eq 0 ]
