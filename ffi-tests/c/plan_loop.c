/*
 * A robot's control loop for a given time: load ONNX Runtime and the planar bundle through the
 * C API, then plan from a moving observation until SECONDS have passed. Run under strace by
 * crates/zplan-ffi/tests/no_network.rs, which fails on any socket the process opens.
 *
 * usage: plan_loop ORT_LIBRARY PLANAR_BUNDLE SECONDS
 * Prints "plans N seconds S" on success.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include "zplan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int fail(const char *what) {
    char message[512];
    zp_last_error_message(message, sizeof message);
    fprintf(stderr, "plan_loop: %s failed: %s\n", what, message);
    return 1;
}

/* A planar frame: black, with the 2x2 agent block at (row, col). */
static void planar_frame(unsigned char *image, int row, int col) {
    int r, c;
    memset(image, 0, 40 * 40);
    for (r = row; r < row + 2; r++)
        for (c = col; c < col + 2; c++) image[r * 40 + c] = 255;
}

int main(int argc, char **argv) {
    zp_bundle *bundle = NULL;
    zp_planner *planner = NULL;
    zp_planner_settings settings;
    unsigned char image[40 * 40];
    double action[2], start, seconds, elapsed = 0.0;
    long plans = 0;
    if (argc != 4) {
        fprintf(stderr, "usage: plan_loop ORT_LIBRARY PLANAR_BUNDLE SECONDS\n");
        return 2;
    }
    seconds = atof(argv[3]);
    if (zp_runtime_init(argv[1]) != ZP_OK) return fail("zp_runtime_init");
    if (zp_bundle_load(argv[2], &bundle) != ZP_OK) return fail("zp_bundle_load");
    if (zp_planner_settings_for_task("planar", &settings) != ZP_OK) return fail("settings");
    if (zp_planner_new(&bundle, &settings, &planner) != ZP_OK) return fail("zp_planner_new");
    planar_frame(image, 36, 36);
    if (zp_planner_set_goal(planner, image, sizeof image) != ZP_OK) return fail("set_goal");
    start = now();
    while (elapsed < seconds) {
        int k = (int)(plans % 30);
        planar_frame(image, 4 + k, 4 + k);
        if (zp_planner_plan(planner, image, sizeof image, action, 2) != ZP_OK) return fail("plan");
        plans++;
        elapsed = now() - start;
    }
    zp_planner_free(planner);
    printf("plans %ld seconds %.1f\n", plans, elapsed);
    return 0;
}
