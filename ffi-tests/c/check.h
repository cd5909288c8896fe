/*
 * What the C test programs share: CHECK, which counts a failed condition in `failures` and
 * prints it with the library's last error message, and a planar camera frame.
 */
#ifndef ZPLAN_FFI_TESTS_CHECK_H
#define ZPLAN_FFI_TESTS_CHECK_H

#include "zplan.h"

#include <stdio.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            char message_[512];                                                                \
            zp_last_error_message(message_, sizeof message_);                                  \
            fprintf(stderr, "%s:%d: CHECK(%s) failed (last error: %s)\n", __FILE__, __LINE__, \
                    #cond, message_);                                                          \
            failures++;                                                                        \
        }                                                                                      \
    } while (0)

#define CHECK_STATUS(call, expected) CHECK((call) == (expected))

/* The last error message mentions `needle`. */
static inline int last_error_mentions(const char *needle) {
    char message[1024];
    zp_last_error_message(message, sizeof message);
    return strstr(message, needle) != NULL;
}

/* A planar frame: black, with the 2x2 agent block at (row, col). */
static inline void planar_frame(unsigned char *image, int row, int col) {
    int r, c;
    memset(image, 0, 40 * 40);
    for (r = row; r < row + 2; r++)
        for (c = col; c < col + 2; c++) image[r * 40 + c] = 255;
}

#endif /* ZPLAN_FFI_TESTS_CHECK_H */
