# README stays true: it opens with the two set-up commands and lists every
# experiment key with its current default, exactly as `dptrain keys` prints it.
. tests/lib.sh
head -5 "$ROOT/README.md" | grep -q '^make demo' || fail "README does not open with make demo"
head -5 "$ROOT/README.md" | grep -q '^make test' || fail "README does not open with make test"
"$DPTRAIN" keys > "$TMP/keys.md"
missing=0
while IFS= read -r line; do
  grep -qxF -- "$line" "$ROOT/README.md" || { echo "README lacks: $line"; missing=1; }
done < "$TMP/keys.md"
[ "$missing" -eq 0 ] || fail "README's key table is out of date (paste the output of dptrain keys)"
