/*
 * Which threads exist, and when: run with OPENBLAS_NUM_THREADS=4 in the environment.
 *   thread_count ORT_LIBRARY PLANAR_BUNDLE
 * - zp_runtime_init sets OpenBLAS to one thread whatever the environment says;
 *   zp_set_blas_threads changes it (0 is refused), and a later zp_runtime_init leaves it;
 * - after zp_runtime_init, loading a bundle with the default options, making a planner and
 *   planning start no thread;
 * - a bundle loaded with intra_op_threads = 2 gives ONNX Runtime threads at load, and planning
 *   with it starts none.
 * Prints "ok" and exits 0 when every check holds.
 */
#define _POSIX_C_SOURCE 200809L

#include "check.h"

#include <dirent.h>

/* Threads of this process now. */
static int thread_count(void) {
    int count = 0;
    struct dirent *entry;
    DIR *tasks = opendir("/proc/self/task");
    if (tasks == NULL) return -1;
    while ((entry = readdir(tasks)) != NULL)
        if (entry->d_name[0] != '.') count++;
    closedir(tasks);
    return count;
}

/* Makes a planar planner of `bundle` with a goal, plans 20 frames, frees it. */
static void plan_twenty(zp_bundle *bundle) {
    zp_planner_settings settings;
    zp_planner *planner = NULL;
    unsigned char frame[40 * 40];
    double action[2];
    int step;
    CHECK_STATUS(zp_planner_settings_for_bundle(bundle, "planar", &settings), ZP_OK);
    CHECK_STATUS(zp_planner_new(&bundle, &settings, &planner), ZP_OK);
    planar_frame(frame, 30, 30);
    CHECK_STATUS(zp_planner_set_goal(planner, frame, sizeof frame), ZP_OK);
    for (step = 0; step < 20; step++) {
        planar_frame(frame, 5 + step, 5);
        CHECK_STATUS(zp_planner_plan(planner, frame, sizeof frame, action, 2), ZP_OK);
    }
    zp_planner_free(planner);
}

int main(int argc, char **argv) {
    zp_bundle *bundle = NULL;
    zp_bundle_options options = zp_bundle_options_default();
    int after_init, before_threaded_load, after_threaded_load;
    if (argc != 3) {
        fprintf(stderr, "usage: %s ORT_LIBRARY PLANAR_BUNDLE\n", argv[0]);
        return 2;
    }

    CHECK_STATUS(zp_runtime_init(argv[1]), ZP_OK);
    CHECK(zp_blas_threads() == 1);
    CHECK_STATUS(zp_set_blas_threads(0), ZP_INVALID_ARGUMENT);
    CHECK(last_error_mentions("threads is 0"));
    CHECK_STATUS(zp_set_blas_threads(3), ZP_OK);
    CHECK(zp_blas_threads() == 3);
    CHECK_STATUS(zp_runtime_init(NULL), ZP_OK);
    CHECK(zp_blas_threads() == 3);
    CHECK_STATUS(zp_set_blas_threads(1), ZP_OK);

    after_init = thread_count();
    CHECK(after_init > 0);
    CHECK_STATUS(zp_bundle_load(argv[2], &bundle), ZP_OK);
    CHECK(thread_count() == after_init);
    plan_twenty(bundle);
    CHECK(thread_count() == after_init);

    options.intra_op_threads = 2;
    before_threaded_load = thread_count();
    CHECK_STATUS(zp_bundle_load_with(argv[2], &options, &bundle), ZP_OK);
    after_threaded_load = thread_count();
    CHECK(after_threaded_load > before_threaded_load);
    plan_twenty(bundle);
    CHECK(thread_count() <= after_threaded_load);

    printf("threads: %d after zp_runtime_init, %d with a bundle of 2 intra-op threads per network\n",
           after_init, after_threaded_load);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
