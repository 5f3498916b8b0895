/* Test tool: the job's ranks split into groups (dpt_comm_split), each running collectives and a
 * whole trainer of its own, as a study's trials will.
 *   comm_groups      under mpirun -np 4; exit 0 when every check holds on every rank */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dptrain/comm.h"
#include "dptrain/config.h"
#include "dptrain/train.h"

static int failures;

static void check(const dpt_comm *world, int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "comm_groups: rank %d: %s\n", world->rank, what);
        failures++;
    }
}

/* The built-in linear regression at learning rate lr, trained on g's ranks alone. */
static void train_group(const dpt_comm *world, const dpt_comm *g, double lr, double *w)
{
    static dpt_config c;
    char set[64];
    dpt_err e = {0};
    dpt_config_defaults(&c);
    snprintf(set, sizeof set, "optimizer.lr=%g", lr);
    int st = dpt_config_load_string(&c, dpt_config_default_experiment(), "built-in", &e);
    if (st == DPT_OK)
        st = dpt_config_set(&c, set, &e);
    if (st == DPT_OK)
        st = dpt_config_set(&c, "training.epochs=50", &e);
    if (st == DPT_OK && (st = dpt_config_validate(&c, &e)) == DPT_OK)
        dpt_config_resolve(&c);
    dpt_trainer t;
    if (st != DPT_OK || dpt_trainer_init(&t, &c, g, -1, &e) != DPT_OK || dpt_trainer_run(&t, &e) != DPT_OK) {
        check(world, 0, e.msg);
        return;
    }
    *w = t.model.params[0];
    dpt_trainer_free(&t);
}

int main(int argc, char **argv)
{
    dpt_comm world, g;
    dpt_err e = {0};
    if (dpt_comm_init(&world, &argc, &argv, &e) != DPT_OK || world.size != 4) {
        fprintf(stderr, "comm_groups: needs 4 ranks (%s)\n", e.msg);
        return 2;
    }
    int color = world.rank / 2;
    if (dpt_comm_split(&world, color, &g, &e) != DPT_OK)
        return fprintf(stderr, "comm_groups: %s\n", e.msg), 2;
    check(&world, g.size == 2 && g.rank == world.rank % 2, "group rank or size");
    double v = world.rank + 1;
    dpt_comm_allreduce_d(&g, &v, 1);
    check(&world, v == (color == 0 ? 3 : 7), "a sum over the group took other ranks");
    /* A failure in one group fails that group only. */
    int st = dpt_comm_agree(&g, color == 1 && g.rank == 1 ? dpt_errf(&e, "expected failure") : DPT_OK, &e);
    check(&world, (st == DPT_OK) == (color == 0), "agreement crossed groups");
    size_t *lens;
    char mine = (char)('a' + world.rank), *all = dpt_comm_gather_bytes(&g, &mine, 1, &lens);
    check(&world, g.rank != 0 || (all && all[0] == 'a' + 2 * color && all[1] == 'a' + 2 * color + 1),
          "gather over the group");
    free(all);
    free(lens);
    /* Each group trains its own trial: its two ranks agree, the two groups differ. */
    double w = 0;
    train_group(&world, &g, color == 0 ? 0.01 : 0.05, &w);
    check(&world, dpt_comm_same(&g, &w, 1), "the ranks of a group trained differently");
    check(&world, !dpt_comm_same(&world, &w, 1), "both groups trained the same trial");
    dpt_comm_free(&g);
    double bad = failures;
    dpt_comm_allreduce_d(&world, &bad, 1);
    if (world.rank == 0)
        printf("comm_groups: %s\n", bad == 0 ? "every check holds" : "checks failed");
    dpt_comm_finalize();
    return bad == 0 ? 0 : 1;
}
