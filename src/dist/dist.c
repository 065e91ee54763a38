/*
 * dist.c — the MPI layer behind lc_dist.h: start/finish, the training group
 * (world or solo), the threads × ranks layout, sums and broadcasts with a
 * timeout and hang detection (probes naming the rank that does not answer),
 * and the "same inputs on every rank" checks.
 *
 * Built with MPI when LC_HAVE_MPI is defined (CMake option LC_MPI); without
 * it, or when not launched by an MPI launcher, the single-process identity.
 */
#include "lc_dist.h"
#include "lc_path.h"

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef LC_HAVE_MPI
#include <mpi.h>
#endif

static int g_started, g_solo, g_world_rank, g_world_size = 1;
static char g_host[256] = "";

const char *lc_dist_host(void) {
    if (!g_host[0] && gethostname(g_host, sizeof g_host - 1)) snprintf(g_host, sizeof g_host, "?");
    return g_host;
}
int lc_dist_active(void) { return g_started && g_world_size > 1; }
int lc_dist_world_rank(void) { return g_world_rank; }
int lc_dist_world_size(void) { return g_world_size; }
int lc_dist_rank(void) { return g_solo ? 0 : g_world_rank; }
int lc_dist_size(void) { return g_solo ? 1 : g_world_size; }
int lc_dist_is_root(void) { return lc_dist_rank() == 0; }
int lc_dist_owns(int64_t i) { return i % lc_dist_size() == lc_dist_rank(); }
void lc_dist_solo_begin(void) { g_solo = 1; }
void lc_dist_solo_end(void) { g_solo = 0; }

/* Launched by mpirun/mpiexec (Open MPI, MPICH hydra, PMIx) or srun? */
static int launched_by_mpi(void) {
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK", "SLURM_STEP_ID", NULL};
    for (int i = 0; vars[i]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

/* CPUs this process may run on (the launcher's binding). */
static int cpus_allowed(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set)) return (int)sysconf(_SC_NPROCESSORS_ONLN);
    return CPU_COUNT(&set);
}

uint64_t lc_dist_hash_bytes(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = lc_hash64(h, w);
    }
    uint64_t tail = 0;
    if (n > i) memcpy(&tail, b + i, n - i);
    return lc_hash64(h ^ (uint64_t)n, tail);
}

static lc_status hash_file(const char *path, uint64_t *h) {
    FILE *f = fopen(path, "rb");
    if (!f) return lc_errorf(LC_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    static unsigned char buf[1 << 20];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) *h = lc_dist_hash_bytes(*h, buf, n);
    int bad = ferror(f);
    fclose(f);
    return bad ? lc_errorf(LC_ERR_IO, "cannot read %s", path) : LC_OK;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

lc_status lc_dist_hash_path(const char *path, uint64_t *h) {
    struct stat sb;
    if (stat(path, &sb)) return lc_errorf(LC_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return hash_file(path, h);
    struct dirent **names = NULL;
    int n = scandir(path, &names, NULL, NULL);
    if (n < 0) return lc_errorf(LC_ERR_IO, "cannot list %s: %s", path, strerror(errno));
    char **sorted = malloc(sizeof(char *) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) sorted[i] = names[i]->d_name;
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_names);
    lc_status st = LC_OK;
    for (int i = 0; i < n && !st; i++) {
        char full[2048];
        if ((st = lc_path_join(full, sizeof full, path, sorted[i]))) break;
        if (stat(full, &sb) || !S_ISREG(sb.st_mode)) continue;
        *h = lc_dist_hash_bytes(*h, sorted[i], strlen(sorted[i]));
        st = hash_file(full, h);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    free(sorted);
    return st;
}

#ifdef LC_HAVE_MPI
#include "dist_mpi.inc"
#else
/* ------------------------------------------------- single-process build */
lc_status lc_dist_init(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (launched_by_mpi())
        fprintf(stderr, "lorac: warning: started by an MPI launcher but built without MPI (LC_MPI=OFF); "
                        "every rank trains alone\n");
    return LC_OK;
}
void lc_dist_finalize(int rc) { (void)rc; }
int lc_dist_threads(int requested, char *layout, size_t size) {
    int n = requested > 0 ? requested : 0;
    if (layout) snprintf(layout, size, "1 process (built without MPI)");
    (void)cpus_allowed;
    return n;
}
lc_status lc_dist_sum_floats(float *buf, size_t n) { (void)buf; (void)n; return LC_OK; }
lc_status lc_dist_sum_doubles(double *buf, size_t n) { (void)buf; (void)n; return LC_OK; }
int lc_dist_any(int flag) { return flag != 0; }
lc_status lc_dist_bcast_world(void *buf, size_t bytes, int root) { (void)buf; (void)bytes; (void)root; return LC_OK; }
lc_status lc_dist_agree_world(lc_status st) { return st; }
lc_status lc_dist_check_same(const char *what, uint64_t hash) { (void)what; (void)hash; return LC_OK; }
lc_status lc_dist_check_same_text(const char *what, const char *text) { (void)what; (void)text; return LC_OK; }
void lc_dist_heartbeat(void) {}
void lc_dist_count_shard(int64_t own, int64_t nb, double seconds) { (void)own; (void)nb; (void)seconds; }
#endif
