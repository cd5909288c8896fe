/*
 * Heap allocations of the whole process (zplan, ONNX Runtime, OpenBLAS, the C library) while
 * planning, counted by replacing the C library's allocation functions in this program (the
 * dynamic linker binds every library's malloc to these):
 *   alloc_count ORT_LIBRARY MODELS_DIR
 * For each shipped latent bundle, planned over with zplan's settings for its task from one
 * camera frame per call (zp_planner_plan_frame):
 * - with the default options (native encoder and dynamics), after 5 warm-up plans no plan
 *   allocates: 0 allocations in each of 20 plans;
 * - with the encoder on ONNX Runtime (native_encoder = 0), the count per plan is printed:
 *   ONNX Runtime allocates in every run.
 * Prints one line per bundle and "ok", exits 0 when every check holds.
 */
#define _GNU_SOURCE

#include "check.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

/* glibc's own allocator, under the names it exports for this purpose. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *ptr);

static atomic_long allocations;

void *malloc(size_t size) {
    atomic_fetch_add(&allocations, 1);
    return __libc_malloc(size);
}
void *calloc(size_t count, size_t size) {
    atomic_fetch_add(&allocations, 1);
    return __libc_calloc(count, size);
}
void *realloc(void *ptr, size_t size) {
    atomic_fetch_add(&allocations, 1);
    return __libc_realloc(ptr, size);
}
void *memalign(size_t alignment, size_t size) {
    atomic_fetch_add(&allocations, 1);
    return __libc_memalign(alignment, size);
}
void *aligned_alloc(size_t alignment, size_t size) {
    atomic_fetch_add(&allocations, 1);
    return __libc_memalign(alignment, size);
}
int posix_memalign(void **out, size_t alignment, size_t size) {
    void *ptr;
    atomic_fetch_add(&allocations, 1);
    ptr = __libc_memalign(alignment, size);
    if (ptr == NULL) return ENOMEM;
    *out = ptr;
    return 0;
}
void free(void *ptr) { __libc_free(ptr); }

/* The most allocations of one plan among 20 after 5 warm-up plans, or -1 on an error. */
static long allocations_per_plan(const char *dir, const char *task, int native_encoder,
                                 int *evaluated_natively) {
    zp_bundle_options options = zp_bundle_options_default();
    zp_bundle *bundle = NULL;
    zp_bundle_info info;
    zp_planner_settings settings;
    zp_planner *planner = NULL;
    unsigned char *frame;
    double action[8];
    size_t frame_len;
    long most = 0;
    int step;

    options.native_encoder = native_encoder != 0;
    CHECK_STATUS(zp_bundle_load_with(dir, &options, &bundle), ZP_OK);
    CHECK_STATUS(zp_bundle_get_info(bundle, &info), ZP_OK);
    *evaluated_natively = info.native_encoder && info.native_dynamics;
    CHECK_STATUS(zp_planner_settings_for_bundle(bundle, task, &settings), ZP_OK);
    CHECK_STATUS(zp_planner_new(&bundle, &settings, &planner), ZP_OK);
    if (planner == NULL || info.action_dim > 8) return -1;
    frame_len = info.channels * info.height * info.width;
    frame = calloc(frame_len, 1);
    if (frame == NULL) return -1;
    frame[frame_len / 2] = 255;
    CHECK_STATUS(zp_planner_set_goal_frame(planner, frame, frame_len), ZP_OK);
    for (step = 0; step < 25; step++) {
        long before, count;
        /* A moving bright spot: every plan sees a new frame. */
        frame[(step * 7) % frame_len] = (unsigned char)(40 * step);
        before = atomic_load(&allocations);
        if (zp_planner_plan_frame(planner, frame, frame_len, action, info.action_dim) != ZP_OK) {
            CHECK(0);
            most = -1;
            break;
        }
        count = atomic_load(&allocations) - before;
        if (step >= 5 && count > most) most = count;
    }
    free(frame);
    zp_planner_free(planner);
    return most;
}

int main(int argc, char **argv) {
    static const char *const tasks[] = {"planar", "swing", "balance", "cartpole", "threepole"};
    char dir[1024];
    size_t t;
    long before;
    void *probe;
    if (argc != 3) {
        fprintf(stderr, "usage: %s ORT_LIBRARY MODELS_DIR\n", argv[0]);
        return 2;
    }
    /* The counter sees this program's own allocations. */
    before = atomic_load(&allocations);
    probe = malloc(64);
    CHECK(probe != NULL && atomic_load(&allocations) == before + 1);
    free(probe);

    CHECK_STATUS(zp_runtime_init(argv[1]), ZP_OK);
    for (t = 0; t < sizeof tasks / sizeof tasks[0]; t++) {
        int native = 0, onnxruntime_encoder = 0;
        long with_native, with_onnxruntime;
        snprintf(dir, sizeof dir, "%s/%s", argv[2], tasks[t]);
        with_native = allocations_per_plan(dir, tasks[t], 1, &native);
        with_onnxruntime = allocations_per_plan(dir, tasks[t], 0, &onnxruntime_encoder);
        printf("%s: %ld allocations per plan (native encoder and dynamics), %ld with the encoder "
               "on ONNX Runtime\n",
               tasks[t], with_native, with_onnxruntime);
        CHECK(native);
        CHECK(with_native == 0);
        CHECK(with_onnxruntime >= 0);
    }
    if (failures == 0) printf("ok\n");
    return failures == 0 ? 0 : 1;
}
