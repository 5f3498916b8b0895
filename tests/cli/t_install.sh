# make install PREFIX=DIR installs the binary, the library, the headers, a pkg-config file and the
# launchers; a small C program built with `pkg-config --cflags --libs dptrain` trains the linear
# regression through the public API; the installed launcher runs the installed binary; DESTDIR
# stages the same tree; make uninstall removes exactly what was installed.
. tests/lib.sh
# The make that runs this test must not hand its own variables (the ASan build's) to this one.
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u BUILD make --no-print-directory -C "$ROOT" "$@"; }
prefix=$TMP/opt/dptrain
cd "$TMP"
mk install PREFIX="$prefix" > install.log 2>&1 || { cat install.log; fail "make install failed"; }
for f in bin/dptrain lib/libdptrain.a lib/pkgconfig/dptrain.pc include/dptrain/train.h \
         share/dptrain/launch/local.sh share/dptrain/launch/configs/default.ini share/dptrain/scripts/plot-metrics; do
  [ -e "$prefix/$f" ] || fail "make install did not install $f"
done
"$prefix/bin/dptrain" --version | grep -q '^dptrain ' || fail "the installed dptrain does not run"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
cc -std=c11 -Wall -Wextra -Werror "$ROOT/tests/install/train_linreg.c" -o train_linreg \
  $(pkg-config --cflags --libs dptrain) || fail "cannot build against the installed library"
./train_linreg > api.log 2>&1 || { cat api.log; fail "training through the installed library failed"; }
expect_contains api.log "least squares"
# The installed launcher finds the installed binary (no build folder beside it).
OPENBLAS_NUM_THREADS=1 timeout 60 "$prefix/share/dptrain/launch/local.sh" 1 \
  "$prefix/share/dptrain/launch/configs/linreg.ini" --set training.epochs=5 > launch.log 2>&1 \
  || { cat launch.log; fail "the installed local.sh failed"; }
expect_contains launch.log "run directory"
# DESTDIR stages the same files under another root, with PREFIX in the pkg-config file.
mk install PREFIX=/opt/dpt DESTDIR="$TMP/stage" > stage.log 2>&1 || { cat stage.log; fail "DESTDIR install failed"; }
grep -qx 'prefix=/opt/dpt' "$TMP/stage/opt/dpt/lib/pkgconfig/dptrain.pc" || fail "dptrain.pc does not name PREFIX"
diff <(cd "$prefix" && find . -type f | sort) <(cd "$TMP/stage/opt/dpt" && find . -type f | sort) \
  || fail "DESTDIR staged other files than PREFIX"
# Uninstall leaves no file behind, and no folder of dptrain's own.
mk uninstall PREFIX="$prefix" > uninstall.log 2>&1 || { cat uninstall.log; fail "make uninstall failed"; }
left=$(cd "$prefix" && find . -type f -o -type d -name dptrain)
[ -z "$left" ] || fail "make uninstall left: $left"
exit 0
