/*
 * test_path.c — lc_path.h: paths that fit are written whole; paths that do
 * not fit fail with LC_ERR_ARG, a message with the needed length, and an
 * empty buffer (never a truncated path), at every boundary byte.
 */
#include <string.h>

#include "lc_path.h"
#include "../lc_test.h"

static void test_join(void) {
    char buf[16];
    CHECK_OK(lc_path_join(buf, sizeof buf, "runs/a", "x.h5"));
    CHECK(!strcmp(buf, "runs/a/x.h5"), "got '%s'", buf);
    CHECK_OK(lc_path_join(buf, sizeof buf, "/", "etc"));
    CHECK(!strcmp(buf, "//etc"), "joins exactly dir + / + name: got '%s'", buf);
    /* "abcdefg/1234567" is 15 bytes + NUL = 16: fits; one more byte does not. */
    CHECK_OK(lc_path_join(buf, sizeof buf, "abcdefg", "1234567"));
    CHECK(strlen(buf) == 15);
    CHECK_ERR(lc_path_join(buf, sizeof buf, "abcdefg", "12345678"), LC_ERR_ARG, "path too long", "16 bytes",
              "at most 15 fit", "abcdefg/12345678");
    CHECK(buf[0] == 0, "a path that does not fit leaves dst empty, got '%s'", buf);
    CHECK_ERR(lc_path_join(buf, 0, "a", "b"), LC_ERR_ARG, "path too long");
}

static void test_fmt(void) {
    char buf[32];
    CHECK_OK(lc_path_fmt(buf, sizeof buf, "%s/%s-%08d.h5", "ck", "step", 42));
    CHECK(!strcmp(buf, "ck/step-00000042.h5"), "got '%s'", buf);
    /* Every length around the buffer size: whole, or refused and empty. */
    for (int n = 25; n <= 40; n++) {
        char name[64];
        memset(name, 'n', (size_t)n);
        name[n] = 0;
        lc_status st = lc_path_fmt(buf, sizeof buf, "d/%s", name);
        if (n + 2 < (int)sizeof buf) {
            CHECK(st == LC_OK && strlen(buf) == (size_t)n + 2, "length %d", n);
        } else {
            CHECK(st == LC_ERR_ARG && buf[0] == 0, "length %d: status %d, buf '%s'", n, (int)st, buf);
        }
    }
    /* A long path is named by its start with "..." in the message. */
    char big[1000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK_ERR(lc_path_fmt(buf, sizeof buf, "%s.tmp", big), LC_ERR_ARG, "1003 bytes", "qqqq...");
}

static void test_dirname(void) {
    char buf[16];
    CHECK_OK(lc_path_dirname(buf, sizeof buf, "a/b/c.h5"));
    CHECK(!strcmp(buf, "a/b"), "got '%s'", buf);
    CHECK_OK(lc_path_dirname(buf, sizeof buf, "c.h5"));
    CHECK(!strcmp(buf, "."), "got '%s'", buf);
    CHECK_OK(lc_path_dirname(buf, sizeof buf, "/c.h5"));
    CHECK(!strcmp(buf, "/"), "got '%s'", buf);
    CHECK_ERR(lc_path_dirname(buf, 4, "abcd/e"), LC_ERR_ARG, "path too long", "abcd");
    CHECK(buf[0] == 0);
}

int main(void) {
    test_join();
    test_fmt();
    test_dirname();
    return lc_test_finish("test_path");
}
