/*
 * run_dir.h — a training run's directory (train module internal): claiming
 * it (lock, refusing another run's files) and finding the newest checkpoint
 * that loads.
 */
#ifndef LC_RUN_DIR_H
#define LC_RUN_DIR_H

#include <stdint.h>

#include "lc_common.h"
#include "lc_config.h"
#include "lc_reporter.h"

/* Create cfg->out_dir, take its lock (held in *lock_fd until closed),
 * refuse when a file the run writes there is one of its inputs (model,
 * tokenizer, data files: device + inode) and, for a new run (resume 0),
 * refuse a directory holding another run's saved state (checkpoint-N.h5,
 * best.h5, adapter.h5) unless cfg->overwrite, which deletes that run's own
 * files first (reported to rep). Files lorac does not write are never touched. The errors
 * name the existing run and say what to do. */
lc_status lc_run_dir_claim(const lc_train_config *cfg, int resume, const lc_reporter *rep, int *lock_fd);

/* The newest checkpoint-<step>.h5 in dir whose metadata reads back: a
 * truncated, garbage or directory "checkpoint" is reported (a notice to rep), kept
 * as "<name>.corrupt" (never deleted) and the previous one taken. -1 (with an error naming dir) when none loads. */
int64_t lc_run_dir_resume_step(const char *dir, const lc_reporter *rep);

#endif
