# Collectives cut into pieces when their counts pass what one MPI call carries: the same bits as
# in one piece, on 2, 3 and 4 ranks (ring, tree and gathers).
. tests/lib.sh
cd "$TMP"
for n in 2 3 4; do
  mpi "$n" -- "$ROOT/$BUILD/tests/mpi_split_counts" > split$n.txt 2>&1 || { cat split$n.txt; fail "split counts on $n ranks"; }
  expect_contains split$n.txt "every check holds"
done
