/*
 * lc_dist.h — data-parallel training and distributed sweeps over MPI
 * (docs/scale-out.md). Optional at build time (LC_MPI): without MPI, or when
 * lorac was not started by an MPI launcher (mpirun / mpiexec / srun), every
 * call below is the single-process identity: rank 0 of 1, sums and
 * broadcasts are no-ops, checks pass.
 *
 * The training code sees "the training group": all ranks, or just this one
 * while a distributed sweep runs a trial on it (lc_dist_solo_begin/_end).
 *
 * Hang detection: a rank waiting in a collective for LORAC_DIST_TIMEOUT
 * seconds (default 600) probes every other rank (point-to-point, on a
 * communicator of its own). Ranks answer from inside their own collectives
 * and from lc_dist_heartbeat(), which the sums and lc_dist_any (once per
 * training step, also when solo) and the evaluation loop (per batch) call.
 * A rank that answers is alive
 * (busy: the wait goes on); one that does not answer within a grace period
 * (LORAC_DIST_TIMEOUT / 4, 1 to 120 s) is hung (stopped, deadlocked, or dead
 * without the launcher noticing): the waiting ranks print its rank, host and
 * pid and abort the job. Checkpoints are written atomically by rank 0, so the
 * newest one on disk stays loadable.
 */
#ifndef LC_DIST_H
#define LC_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "lc_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Start MPI if lorac was launched by an MPI launcher (and built with MPI).
 * Returns LC_OK also when MPI is not used. Call once, from main. */
lc_status lc_dist_init(int *argc, char ***argv);
/* Finish MPI (if started). rc != 0 on a multi-rank job aborts every rank
 * (a rank that failed alone must not leave the others waiting). */
void lc_dist_finalize(int rc);

int lc_dist_active(void);     /* MPI started with more than one rank in the world */
int lc_dist_rank(void);       /* rank in the training group (0 when solo) */
int lc_dist_size(void);       /* ranks in the training group (1 when solo) */
int lc_dist_is_root(void);    /* lc_dist_rank() == 0: writes files and progress */
int lc_dist_world_rank(void); /* rank among all ranks (sweeps deal trials by it) */
int lc_dist_world_size(void);
const char *lc_dist_host(void); /* this rank's host name */

/* Does this rank compute micro-batch i of a step? (round-robin: i % size) */
int lc_dist_owns(int64_t i);

/* Answer the probes of ranks that are waiting for this one (see above).
 * Cheap (one MPI_Test); call it from loops that run long without another
 * lc_dist_* call. A no-op without MPI. */
void lc_dist_heartbeat(void);

/* Evaluation (src/train/evaluate.c; sharded when the group has N > 1
 * ranks) reports how many of nb batches this rank computed and the wall
 * seconds it took (sum included); under MPI rank 0 prints the totals at the
 * end of the job (docs/scale-out.md). */
void lc_dist_count_shard(int64_t own, int64_t nb, double seconds);

/* While solo, the training group is this rank alone (sweep trials). */
void lc_dist_solo_begin(void);
void lc_dist_solo_end(void);

/* OpenMP threads per rank: `requested` if > 0 (the config's threads), else
 * the host's cores / ranks on this host (MPI_COMM_TYPE_SHARED), capped by the
 * CPUs this rank may run on (the launcher's binding). Writes a one-line
 * layout ("2 ranks on 1 host(s), 1 per host x 1 threads ...") into layout. */
int lc_dist_threads(int requested, char *layout, size_t layout_size);

/* In-place sums over the training group; every rank gets the same result. */
lc_status lc_dist_sum_floats(float *buf, size_t n);   /* (n) */
lc_status lc_dist_sum_doubles(double *buf, size_t n); /* (n) */
/* 1 if flag is non-zero on any rank of the training group. */
int lc_dist_any(int flag);
/* bytes from `root` of the WORLD to every world rank (sweep results). */
lc_status lc_dist_bcast_world(void *buf, size_t bytes, int root);
/* The world agrees on failure: LC_OK only if st is LC_OK on every world
 * rank; a rank with st == LC_OK gets LC_ERR_IO naming the failed rank. */
lc_status lc_dist_agree_world(lc_status st);

/* Refuse to train on different inputs: LC_ERR_CONFIG unless every rank of
 * the training group has the same hash for `what`, naming `what`, the first
 * differing rank and both hosts. */
lc_status lc_dist_check_same(const char *what, uint64_t hash);
/* The same for a text (the resolved config): names the first line that
 * differs between rank 0 and the first differing rank. */
lc_status lc_dist_check_same_text(const char *what, const char *text);

/* 64-bit hash of bytes, chained from h. */
uint64_t lc_dist_hash_bytes(uint64_t h, const void *p, size_t n);
/* Hash of a file, or of the regular files of a directory (sorted names). */
lc_status lc_dist_hash_path(const char *path, uint64_t *h);

#ifdef __cplusplus
}
#endif
#endif /* LC_DIST_H */
