# Groups of ranks (dpt_comm_split), as a study's trials will use them: 4 ranks in 2 groups of 2;
# sums, agreement and gathers stay inside a group; each group trains a trial of its own.
. tests/lib.sh
cd "$TMP"
mpi 4 -- "$ROOT/$BUILD/tests/mpi_comm_groups" > groups.txt 2>&1 || { cat groups.txt; fail "groups of ranks"; }
expect_contains groups.txt "every check holds"
