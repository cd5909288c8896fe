/*
 * The C API end to end, C99: every function, with good and bad input.
 *
 * usage: test_zplan ORT_LIBRARY PLANAR_BUNDLE SCRATCH_DIR OTHER_BUNDLE VIDEO_BUNDLE
 *   ORT_LIBRARY    libonnxruntime.so
 *   PLANAR_BUNDLE  a bundle of the planar task (40x40 grey images, 2 actions), e.g. models/planar
 *   SCRATCH_DIR    an empty directory the test may write to
 *   OTHER_BUNDLE   a bundle for other images (8x8), refused by a planar planner
 *   VIDEO_BUNDLE   a video bundle whose predictor shifts a 16x16 image and its maps by exactly
 *                  the action (2 context frames, 2 actions in [-1, 1], up to 4 maps)
 * Built with -DZPLAN_EXPECTED_VERSION="x.y.z" (the version in Cargo.toml).
 */
#include "zplan.h"
#include "zplan.h" /* included twice on purpose: the include guard must hold */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static void test_version_and_status(void) {
    char small[4];
    size_t len;
    CHECK(strcmp(zp_version(), ZPLAN_VERSION_STRING) == 0);
    CHECK(strcmp(zp_version(), ZPLAN_EXPECTED_VERSION) == 0);
    CHECK(ZPLAN_ABI_VERSION >= 1);
    CHECK(strcmp(zp_status_str(ZP_OK), "ok") == 0);
    CHECK(strcmp(zp_status_str(ZP_NON_FINITE), "NaN or infinity in input") == 0);
    CHECK(strcmp(zp_status_str(12345), "unknown status") == 0);
    CHECK(strcmp(zp_status_str(-1), "unknown status") == 0);
    {
        int s;
        for (s = ZP_OK; s <= ZP_TRAINER; s++) CHECK(strcmp(zp_status_str(s), "unknown status") != 0);
    }

    /* A failure sets the thread's message; it is cut to the buffer and sized like snprintf. */
    CHECK_STATUS(zp_planner_settings_reference("no-such-task", NULL), ZP_NULL_POINTER);
    len = zp_last_error_message(NULL, 0);
    CHECK(len == strlen("out is NULL"));
    CHECK(zp_last_error_message(small, sizeof small) == len);
    CHECK(strcmp(small, "out") == 0);
}

/* What the log callback received: zplan's messages, one per line, the number of ONNX
 * Runtime's, and the lowest level seen. */
static char logged[8192];
static const char *planar_dir_for_log;
static unsigned lowest_logged = 99, onnx_runtime_messages = 0;

static void remember(uint32_t level, const char *message, void *user) {
    size_t used = strlen(logged);
    CHECK(user == (void *)logged);
    if (level < lowest_logged) lowest_logged = level;
    if (strncmp(message, "ONNX Runtime: ", 14) == 0)
        onnx_runtime_messages++;
    else
        snprintf(logged + used, sizeof logged - used, "%u %s\n", (unsigned)level, message);
}

static void test_runtime(const char *ort) {
    zp_bundle *bundle = NULL;
    char version[32];
    /* The host's logger gets zplan's messages from INFO up, ONNX Runtime's included. */
    CHECK_STATUS(zp_set_log_callback(remember, logged, 7), ZP_INVALID_ARGUMENT);
    CHECK(last_error_mentions("min_level 7"));
    CHECK_STATUS(zp_set_log_callback(remember, logged, ZP_LOG_INFO), ZP_OK);
    /* Before the runtime is loaded nothing can run a model. */
    CHECK_STATUS(zp_bundle_load("does-not-matter", &bundle), ZP_RUNTIME);
    CHECK(bundle == NULL);
    CHECK(last_error_mentions("zp_runtime_init"));
    CHECK(zp_runtime_version(version, sizeof version) == 0);

    CHECK_STATUS(zp_runtime_init("/no/such/libonnxruntime.so"), ZP_RUNTIME);
    CHECK(last_error_mentions("/no/such/libonnxruntime.so"));
    CHECK_STATUS(zp_runtime_init(ort), ZP_OK);
    CHECK_STATUS(zp_runtime_init(ort), ZP_OK);   /* idempotent */
    CHECK_STATUS(zp_runtime_init(NULL), ZP_OK);  /* the loaded one */
    CHECK(zp_runtime_version(version, sizeof version) == strlen("1.31.1"));
    CHECK(strcmp(version, "1.31.1") == 0);
    CHECK(strstr(logged, "1 ONNX Runtime 1.31.1 loaded from ") != NULL);
    CHECK(onnx_runtime_messages > 0); /* it says which devices it found, at INFO */
    CHECK(lowest_logged == ZP_LOG_INFO);

    /* A bundle load says what it loaded; from WARNING up, INFO is dropped; NULL: stderr. */
    CHECK_STATUS(zp_bundle_load(planar_dir_for_log, &bundle), ZP_OK);
    CHECK(strstr(logged, "1 loaded bundle ") != NULL);
    CHECK(strstr(logged, "dynamics on native") != NULL);
    zp_bundle_free(bundle);
    bundle = NULL;
    CHECK_STATUS(zp_set_log_callback(remember, logged, ZP_LOG_WARNING), ZP_OK);
    logged[0] = '\0';
    onnx_runtime_messages = 0;
    CHECK_STATUS(zp_bundle_load(planar_dir_for_log, &bundle), ZP_OK);
    CHECK(logged[0] == '\0' && onnx_runtime_messages == 0);
    zp_bundle_free(bundle);
    CHECK_STATUS(zp_set_log_callback(NULL, NULL, ZP_LOG_WARNING), ZP_OK);
}

static zp_bundle *test_bundle(const char *dir, const char *scratch) {
    zp_bundle *bundle = NULL;
    zp_bundle_info info;
    char missing[1024];
    CHECK_STATUS(zp_bundle_load(NULL, &bundle), ZP_NULL_POINTER);
    CHECK_STATUS(zp_bundle_load(dir, NULL), ZP_NULL_POINTER);
    snprintf(missing, sizeof missing, "%s/no-bundle-here", scratch);
    CHECK_STATUS(zp_bundle_load(missing, &bundle), ZP_BUNDLE);
    CHECK(bundle == NULL);
    CHECK(last_error_mentions("no-bundle-here"));
    CHECK_STATUS(zp_bundle_load(dir, &bundle), ZP_OK);
    CHECK(bundle != NULL);

    CHECK_STATUS(zp_bundle_get_info(NULL, &info), ZP_NULL_POINTER);
    CHECK_STATUS(zp_bundle_get_info(bundle, NULL), ZP_NULL_POINTER);
    CHECK_STATUS(zp_bundle_get_info(bundle, &info), ZP_OK);
    CHECK(info.frames == 1 && info.channels == 1 && info.height == 40 && info.width == 40);
    CHECK(info.observation_len == 1600);
    CHECK(info.latent_dim == 2 && info.action_dim == 2);
    /* planar moves kinematically; its manifest records a step of one second. */
    CHECK(info.time_step == 1.0);
    {
        double low[2], high[2];
        CHECK_STATUS(zp_bundle_get_action_bounds(NULL, low, high, 2), ZP_NULL_POINTER);
        CHECK_STATUS(zp_bundle_get_action_bounds(bundle, NULL, high, 2), ZP_NULL_POINTER);
        CHECK_STATUS(zp_bundle_get_action_bounds(bundle, low, high, 3), ZP_SIZE_MISMATCH);
        CHECK(last_error_mentions("low"));
        CHECK_STATUS(zp_bundle_get_action_bounds(bundle, low, high, 2), ZP_OK);
        CHECK(low[0] == -3.0 && low[1] == -3.0 && high[0] == 3.0 && high[1] == 3.0);
    }
    CHECK(info.has_decoder);
    /* The shipped MLP dynamics compile to the native kernels and agree with ONNX Runtime. */
    CHECK(info.native_dynamics);

    /* Options: ONNX Runtime for every dynamics call. */
    {
        zp_bundle_options options = zp_bundle_options_default();
        zp_bundle *plain = NULL;
        zp_bundle_info plain_info;
        CHECK(options.intra_op_threads == 1 && options.native_dynamics);
        options.native_dynamics = false;
        CHECK_STATUS(zp_bundle_load_with(dir, NULL, &plain), ZP_NULL_POINTER);
        CHECK(plain == NULL);
        CHECK(last_error_mentions("options"));
        CHECK_STATUS(zp_bundle_load_with(dir, &options, &plain), ZP_OK);
        CHECK_STATUS(zp_bundle_get_info(plain, &plain_info), ZP_OK);
        CHECK(!plain_info.native_dynamics && plain_info.latent_dim == info.latent_dim);
        zp_bundle_free(plain);
    }
    return bundle;
}

static void test_settings(void) {
    zp_planner_settings settings = zp_planner_settings_default();
    CHECK(settings.objective == ZP_OBJECTIVE_GOAL);
    CHECK(settings.horizon == 10 && settings.q == 10.0 && settings.r == 1.0);
    CHECK(settings.random_candidates == 3 && settings.bang_bang_candidates == 3);
    CHECK(settings.warm_start && settings.max_iterations == 4 && settings.keep_best == 0);
    CHECK(settings.line_search_batch == 1 && settings.line_search_retry_batch == 4);
    CHECK(settings.time_budget == 0.0);
    /* Box-DDP, with PlaNet's CEM and TD-MPC2's MPPI parameters ready for the sampling planners. */
    CHECK(settings.planner == ZP_PLANNER_DDP && !settings.full_covariance);
    CHECK(settings.samples == 1000 && settings.sampling_iterations == 10 && settings.elites == 100);
    CHECK(settings.temperature == 0.5 && settings.std_min == 0.05 && settings.std_max == 2.0);

    CHECK_STATUS(zp_planner_settings_reference("cartpole", &settings), ZP_OK);
    CHECK(settings.horizon == 5 && settings.q == 100.0 && settings.terminal_steps == 0);
    CHECK_STATUS(zp_planner_settings_for_task("cartpole", &settings), ZP_OK);
    CHECK(settings.horizon == 9 && settings.q == 1000.0 && settings.terminal_steps == 23);
    CHECK(settings.keep_best == 0);
    CHECK_STATUS(zp_planner_settings_for_task("threepole", &settings), ZP_OK);
    CHECK(settings.max_iterations == 2 && settings.keep_best == 0 && settings.horizon == 20);
    CHECK_STATUS(zp_planner_settings_for_task("planar", &settings), ZP_OK);
    CHECK(settings.keep_best == 2 && settings.terminal_steps == 5);
    CHECK(settings.max_iterations == 4);
    CHECK_STATUS(zp_planner_settings_for_task("pong", &settings), ZP_INVALID_ARGUMENT);
    CHECK_STATUS(zp_planner_settings_for_task("planar", NULL), ZP_NULL_POINTER);
    CHECK_STATUS(zp_planner_settings_reference(NULL, &settings), ZP_NULL_POINTER);
    CHECK_STATUS(zp_planner_settings_reference("pong", &settings), ZP_INVALID_ARGUMENT);
    CHECK(last_error_mentions("pong"));
    CHECK(settings.horizon == 10 && settings.q == 10.0); /* planar's, untouched on failure */
}

/* zplan's settings with a bundle's own choices: `chosen_dir` is the planar bundle with
 * "planner": {"terminal_steps": 12} in its manifest. */
static void test_bundle_settings(const char *dir, const char *chosen_dir, const char *video_dir) {
    zp_bundle *plain = NULL, *chosen = NULL, *video = NULL;
    zp_planner_settings settings;
    CHECK_STATUS(zp_bundle_load(dir, &plain), ZP_OK);
    CHECK_STATUS(zp_planner_settings_for_bundle(plain, "planar", &settings), ZP_OK);
    CHECK(settings.terminal_steps == 5 && settings.keep_best == 2); /* the task's */
    CHECK_STATUS(zp_bundle_load(chosen_dir, &chosen), ZP_OK);
    CHECK_STATUS(zp_planner_settings_for_bundle(chosen, "planar", &settings), ZP_OK);
    CHECK(settings.terminal_steps == 12 && settings.keep_best == 2 && settings.horizon == 10);
    CHECK_STATUS(zp_planner_settings_for_bundle(NULL, "planar", &settings), ZP_NULL_POINTER);
    CHECK_STATUS(zp_planner_settings_for_bundle(chosen, NULL, &settings), ZP_NULL_POINTER);
    CHECK_STATUS(zp_planner_settings_for_bundle(chosen, "planar", NULL), ZP_NULL_POINTER);
    CHECK_STATUS(zp_planner_settings_for_bundle(chosen, "pong", &settings), ZP_INVALID_ARGUMENT);
    CHECK(settings.terminal_steps == 12); /* untouched on failure */
    CHECK_STATUS(zp_bundle_load(video_dir, &video), ZP_OK);
    CHECK_STATUS(zp_planner_settings_for_bundle(video, "planar", &settings), ZP_INVALID_ARGUMENT);
    CHECK(last_error_mentions("video"));
    zp_bundle_free(plain);
    zp_bundle_free(chosen);
    zp_bundle_free(video);
}

/* Takes `bundle`: the planner it makes owns its networks. */
static void test_planner(zp_bundle *bundle, const char *dir, const char *other_dir) {
    zp_planner_settings settings;
    zp_planner *planner = NULL;
    zp_planner_info info;
    zp_plan_info plan;
    unsigned char obs[1600], goal[1600];
    float obs_f32[1600];
    double action[2] = {0.0, 0.0}, low[2], high[2];
    double states[11 * 2], actions[10 * 2], gains[10 * 2 * 2];
    int i;

    CHECK_STATUS(zp_planner_settings_reference("planar", &settings), ZP_OK);

    /* Bad settings and arguments. */
    settings.objective = 7;
    CHECK_STATUS(zp_planner_new(&bundle, &settings, &planner), ZP_INVALID_ARGUMENT);
    CHECK(last_error_mentions("objective"));
    settings.objective = ZP_OBJECTIVE_GOAL;
    settings.horizon = 0;
    CHECK_STATUS(zp_planner_new(&bundle, &settings, &planner), ZP_INVALID_ARGUMENT);
    CHECK(last_error_mentions("horizon"));
    settings.horizon = 1000000;
    CHECK_STATUS(zp_planner_new(&bundle, &settings, &planner), ZP_INVALID_ARGUMENT);
    CHECK(last_error_mentions("horizon = 1000000: between 1 and 10000 steps"));
    settings.horizon = 10;
    {
        const zp_planner_settings good = settings;
        settings.max_iterations = 0;
        CHECK_STATUS(zp_planner_new(&bundle, &settings, &planner), ZP_INVALID_ARGUMENT);
        CHECK(last_error_mentions("solver.max_iterations = 0"));
        settings = good;
        settings.r = 0.0;
        CHECK_STATUS(zp_planner_new(&bundle, &settings, &planner), ZP_INVALID_ARGUMENT);
        CHECK(last_error_mentions("r = 0: finite and > 0 for box-DDP"));
        settings = good;
        settings.random_candidates = 5000;
        CHECK_STATUS(zp_planner_new(&bundle, &settings, &planner), ZP_INVALID_ARGUMENT);
        CHECK(last_error_mentions("at most 1024"));
        settings = good;
    }
    settings.q = NAN;
    CHECK_STATUS(zp_planner_new(&bundle, &settings, &planner), ZP_INVALID_ARGUMENT);
    settings.q = 10.0;
    CHECK_STATUS(zp_planner_new(NULL, &settings, &planner), ZP_NULL_POINTER);
    {
        zp_bundle *none = NULL;
        CHECK_STATUS(zp_planner_new(&none, &settings, &planner), ZP_NULL_POINTER);
    }
    CHECK_STATUS(zp_planner_new(&bundle, NULL, &planner), ZP_NULL_POINTER);
    CHECK_STATUS(zp_planner_new(&bundle, &settings, NULL), ZP_NULL_POINTER);
    CHECK(planner == NULL);
    CHECK(bundle != NULL); /* refused before the networks were taken: still the caller's */

    CHECK_STATUS(zp_planner_new(&bundle, &settings, &planner), ZP_OK);
    CHECK(bundle == NULL); /* the planner took the networks */
    zp_bundle_free(bundle);
    CHECK_STATUS(zp_planner_get_info(planner, &info), ZP_OK);
    CHECK(info.observation_len == 1600 && info.latent_dim == 2 && info.action_dim == 2);
    CHECK(info.horizon == 10);
    CHECK_STATUS(zp_planner_get_action_bounds(planner, low, high, 2), ZP_OK);
    CHECK(low[0] == -3.0 && high[1] == 3.0);
    CHECK_STATUS(zp_planner_get_action_bounds(planner, low, high, 3), ZP_SIZE_MISMATCH);
    CHECK_STATUS(zp_planner_get_plan_info(planner, &plan), ZP_OK);
    CHECK(plan.solver_status == ZP_SOLVE_UNSOLVED);

    /* The agent near the top-left corner, the goal near the bottom-right one. */
    planar_frame(obs, 5, 5);
    planar_frame(goal, 36, 36);
    CHECK_STATUS(zp_planner_plan(planner, obs, 1600, action, 2), ZP_NO_GOAL);
    CHECK_STATUS(zp_planner_set_goal(planner, goal, 1599), ZP_SIZE_MISMATCH);
    CHECK(last_error_mentions("1599"));
    CHECK_STATUS(zp_planner_set_goal(planner, NULL, 1600), ZP_NULL_POINTER);
    CHECK_STATUS(zp_planner_set_goal(NULL, goal, 1600), ZP_NULL_POINTER);
    CHECK_STATUS(zp_planner_set_goal(planner, goal, 1600), ZP_OK);

    CHECK_STATUS(zp_planner_plan(planner, obs, 1600, action, 1), ZP_SIZE_MISMATCH);
    CHECK_STATUS(zp_planner_plan(planner, obs, 1600, NULL, 2), ZP_NULL_POINTER);
    CHECK_STATUS(zp_planner_plan(planner, obs, 1600, action, 2), ZP_OK);
    for (i = 0; i < 2; i++) CHECK(isfinite(action[i]) && action[i] >= low[i] && action[i] <= high[i]);
    /* The goal is down and to the right: the first step heads there. */
    CHECK(action[0] > 0.0 && action[1] > 0.0);

    CHECK_STATUS(zp_planner_get_plan_info(planner, &plan), ZP_OK);
    CHECK(plan.solver_status != ZP_SOLVE_UNSOLVED && plan.iterations >= 1);
    CHECK(isfinite(plan.cost) && plan.candidates == 6 && plan.sampling_iterations == 0);
    CHECK(plan.total_seconds >= plan.encode_seconds && plan.encode_seconds > 0.0);

    CHECK_STATUS(zp_planner_get_plan(planner, states, 22, actions, 20), ZP_OK);
    CHECK(actions[0] == action[0] && actions[1] == action[1]);
    CHECK_STATUS(zp_planner_get_plan(planner, NULL, 0, actions, 20), ZP_OK);
    CHECK_STATUS(zp_planner_get_plan(planner, states, 21, NULL, 0), ZP_SIZE_MISMATCH);
    CHECK_STATUS(zp_planner_get_gains(planner, gains, 40), ZP_OK);
    CHECK_STATUS(zp_planner_get_gains(planner, gains, 4), ZP_SIZE_MISMATCH);

    /* A NaN in an observation is refused, and the planner stays usable with its plan. */
    for (i = 0; i < 1600; i++) obs_f32[i] = obs[i] / 255.0f;
    obs_f32[17] = NAN;
    CHECK_STATUS(zp_planner_plan_f32(planner, obs_f32, 1600, action, 2), ZP_NON_FINITE);
    CHECK(last_error_mentions("element 17 is not finite"));
    CHECK_STATUS(zp_planner_get_plan(planner, NULL, 0, actions, 20), ZP_OK);
    CHECK(actions[0] == action[0]);
    obs_f32[17] = 0.0f;
    CHECK_STATUS(zp_planner_plan_f32(planner, obs_f32, 1600, action, 2), ZP_OK);
    CHECK(action[0] > 0.0 && action[1] > 0.0);
    CHECK_STATUS(zp_planner_set_goal_f32(planner, obs_f32, 1600), ZP_OK);
    obs_f32[0] = INFINITY;
    CHECK_STATUS(zp_planner_set_goal_f32(planner, obs_f32, 1600), ZP_NON_FINITE);

    CHECK_STATUS(zp_planner_shift(planner), ZP_OK);
    CHECK_STATUS(zp_planner_reset(planner), ZP_OK);
    CHECK_STATUS(zp_planner_reset(NULL), ZP_NULL_POINTER);
    CHECK_STATUS(zp_planner_shift(NULL), ZP_NULL_POINTER);
    CHECK_STATUS(zp_planner_set_goal(planner, goal, 1600), ZP_OK);
    CHECK_STATUS(zp_planner_plan(planner, obs, 1600, action, 2), ZP_OK);
    CHECK_STATUS(zp_planner_get_plan_info(planner, &plan), ZP_OK);
    CHECK(plan.candidates == 6); /* no warm start after a reset */
    CHECK_STATUS(zp_planner_plan(planner, obs, 1600, action, 2), ZP_OK);
    CHECK_STATUS(zp_planner_get_plan_info(planner, &plan), ZP_OK);
    CHECK(plan.candidates == 7); /* the warm start joins the 6 drawn sequences */
    CHECK(plan.cut == ZP_CUT_NOTHING);

    /* A deadline no phase after the encoding fits in: the previous plan's next action, and the
     * info says what was cut; a generous one cuts nothing. */
    CHECK_STATUS(zp_planner_get_plan(planner, NULL, 0, actions, 20), ZP_OK);
    CHECK_STATUS(zp_planner_set_deadline(planner, -1.0), ZP_INVALID_ARGUMENT);
    CHECK(last_error_mentions("deadline"));
    CHECK_STATUS(zp_planner_set_deadline(NULL, 0.0), ZP_NULL_POINTER);
    CHECK_STATUS(zp_planner_set_deadline(planner, 1e-12), ZP_OK);
    CHECK_STATUS(zp_planner_plan(planner, obs, 1600, action, 2), ZP_OK);
    CHECK(action[0] == actions[2] && action[1] == actions[3]);
    CHECK_STATUS(zp_planner_get_plan_info(planner, &plan), ZP_OK);
    CHECK(plan.cut == ZP_CUT_SOLVE && plan.solver_status == ZP_SOLVE_TIME_BUDGET);
    CHECK(plan.candidates == 0 && plan.encode_seconds > 0.0);
    CHECK_STATUS(zp_planner_set_deadline(planner, 60.0), ZP_OK);
    CHECK_STATUS(zp_planner_plan(planner, obs, 1600, action, 2), ZP_OK);
    CHECK_STATUS(zp_planner_get_plan_info(planner, &plan), ZP_OK);
    CHECK(plan.cut == ZP_CUT_NOTHING && plan.candidates == 7);
    CHECK_STATUS(zp_planner_set_deadline(planner, 0.0), ZP_OK);

    /* Hot reload: the same model, loaded beforehand, is taken and plans at once (the goal is
     * encoded again); a bundle for other images is refused, stays the caller's, and the
     * planner keeps its networks. */
    {
        zp_bundle *again = NULL, *other = NULL;
        CHECK_STATUS(zp_bundle_load(dir, &again), ZP_OK);
        CHECK_STATUS(zp_planner_swap_bundle(planner, &again), ZP_OK);
        CHECK(again == NULL);
        CHECK_STATUS(zp_planner_plan(planner, obs, 1600, action, 2), ZP_OK);
        CHECK(action[0] > 0.0 && action[1] > 0.0);
        CHECK_STATUS(zp_bundle_load(other_dir, &other), ZP_OK);
        CHECK_STATUS(zp_planner_swap_bundle(planner, &other), ZP_SIZE_MISMATCH);
        CHECK(last_error_mentions("images, the planner 1x40x40 images"));
        CHECK(other != NULL);
        CHECK_STATUS(zp_planner_swap_bundle(planner, NULL), ZP_NULL_POINTER);
        CHECK_STATUS(zp_planner_swap_bundle(NULL, &other), ZP_NULL_POINTER);
        CHECK(other != NULL);
        CHECK_STATUS(zp_planner_plan(planner, obs, 1600, action, 2), ZP_OK);
        CHECK(action[0] > 0.0 && action[1] > 0.0);
        zp_bundle_free(other);
    }

    zp_planner_free(planner);
    zp_planner_free(NULL);
}

static void test_buffer(const char *scratch) {
    char dir[1024];
    size_t shape[3] = {2, 4, 4};
    unsigned char obs[32], next[32];
    float action[2] = {0.5f, -1.0f};
    size_t len = 0, committed = 0;
    zp_buffer *buffer = NULL, *again = NULL;
    int i;

    snprintf(dir, sizeof dir, "%s/buffer", scratch);
    for (i = 0; i < 32; i++) {
        obs[i] = (unsigned char)i;
        next[i] = (unsigned char)(i + 1);
    }
    CHECK_STATUS(zp_buffer_create(dir, NULL, 3, 2, &buffer), ZP_NULL_POINTER);
    CHECK_STATUS(zp_buffer_create(dir, shape, 3, 0, &buffer), ZP_INVALID_ARGUMENT);
    CHECK_STATUS(zp_buffer_create(dir, shape, 3, 2, &buffer), ZP_OK);
    CHECK_STATUS(zp_buffer_create(dir, shape, 3, 2, &again), ZP_IO); /* already a buffer there */
    CHECK(again == NULL);

    for (i = 0; i < 3; i++)
        CHECK_STATUS(zp_buffer_append(buffer, obs, next, 32, action, 2, 1.0f, i == 2), ZP_OK);
    CHECK_STATUS(zp_buffer_append(buffer, obs, next, 31, action, 2, 1.0f, false), ZP_SIZE_MISMATCH);
    CHECK_STATUS(zp_buffer_append(buffer, obs, next, 32, action, 1, 1.0f, false), ZP_SIZE_MISMATCH);
    CHECK_STATUS(zp_buffer_append(buffer, obs, next, 32, action, 2, NAN, false), ZP_NON_FINITE);
    CHECK(last_error_mentions("reward"));
    CHECK_STATUS(zp_buffer_append(buffer, obs, NULL, 32, action, 2, 1.0f, false), ZP_NULL_POINTER);
    CHECK_STATUS(zp_buffer_transitions(buffer, &len, &committed), ZP_OK);
    CHECK(len == 3 && committed == 0);
    CHECK_STATUS(zp_buffer_commit(buffer), ZP_OK);
    CHECK_STATUS(zp_buffer_commit(NULL), ZP_NULL_POINTER);
    CHECK_STATUS(zp_buffer_append(buffer, obs, next, 32, action, 2, 2.0f, false), ZP_OK);
    CHECK_STATUS(zp_buffer_transitions(buffer, &len, NULL), ZP_OK);
    CHECK(len == 4);
    zp_buffer_free(buffer); /* the fourth row was never committed */

    CHECK_STATUS(zp_buffer_open(dir, &buffer), ZP_OK);
    CHECK_STATUS(zp_buffer_transitions(buffer, &len, &committed), ZP_OK);
    CHECK(len == 3 && committed == 3);
    CHECK_STATUS(zp_buffer_append(buffer, obs, next, 32, action, 2, 2.0f, true), ZP_OK);
    CHECK_STATUS(zp_buffer_close(buffer), ZP_OK);
    CHECK_STATUS(zp_buffer_close(NULL), ZP_NULL_POINTER);

    CHECK_STATUS(zp_buffer_open(dir, &buffer), ZP_OK);
    CHECK_STATUS(zp_buffer_transitions(buffer, NULL, &committed), ZP_OK);
    CHECK(committed == 4);
    zp_buffer_free(buffer);
    zp_buffer_free(NULL);

    snprintf(dir, sizeof dir, "%s/no-buffer-here", scratch);
    CHECK_STATUS(zp_buffer_open(dir, &buffer), ZP_IO);
    CHECK(last_error_mentions("no-buffer-here"));
}

/* A double integrator x = (position, velocity), u = acceleration, dt = 0.1, from (1, 0). */
static void test_lq(void) {
    enum { T = 20, N = 2, M = 1 };
    double a[T * N * N], b[T * N * M], q[T * N * N], r[T * M * M], qt[N * N];
    double x0[N] = {1.0, 0.0}, low[M] = {-0.5}, high[M] = {0.5};
    double states[(T + 1) * N], controls[T * M], gains[T * M * N];
    zp_lq_problem problem;
    zp_lq_solution solution;
    double unbounded_cost, worst = 0.0;
    int t;

    for (t = 0; t < T; t++) {
        double *at = a + t * 4, *bt = b + t * 2, *qq = q + t * 4;
        at[0] = 1.0; at[1] = 0.1; at[2] = 0.0; at[3] = 1.0;
        bt[0] = 0.005; bt[1] = 0.1;
        qq[0] = 1.0; qq[1] = 0.0; qq[2] = 0.0; qq[3] = 0.1;
        r[t] = 0.01;
    }
    qt[0] = 100.0; qt[1] = 0.0; qt[2] = 0.0; qt[3] = 10.0;
    memset(&problem, 0, sizeof problem);
    problem.n = N; problem.m = M; problem.horizon = T;
    problem.a = a; problem.b = b; problem.q = q; problem.r = r; problem.q_terminal = qt;
    problem.x0 = x0;
    memset(&solution, 0, sizeof solution);
    solution.states = states; solution.controls = controls; solution.gains = gains;

    CHECK_STATUS(zp_lq_solve(&problem, &solution), ZP_OK);
    CHECK(solution.solver_status == ZP_SOLVE_CONVERGED && solution.iterations == 0);
    CHECK(states[0] == 1.0 && states[1] == 0.0);
    for (t = 0; t < T; t++) {
        /* The trajectory obeys the dynamics, and u_t = K_t x_t + k_t leaves k_t = 0 here. */
        double p = states[t * 2] + 0.1 * states[t * 2 + 1] + 0.005 * controls[t];
        double v = states[t * 2 + 1] + 0.1 * controls[t];
        double u = gains[t * 2] * states[t * 2] + gains[t * 2 + 1] * states[t * 2 + 1];
        CHECK(fabs(p - states[t * 2 + 2]) < 1e-12 && fabs(v - states[t * 2 + 3]) < 1e-12);
        CHECK(fabs(u - controls[t]) < 1e-9);
        if (fabs(controls[t]) > worst) worst = fabs(controls[t]);
    }
    CHECK(fabs(states[T * 2]) < 0.1); /* driven towards the origin */
    CHECK(worst > 0.5);                /* so the bound below binds */
    unbounded_cost = solution.cost;

    problem.u_low = low; problem.u_high = high;
    CHECK_STATUS(zp_lq_solve(&problem, &solution), ZP_OK);
    CHECK(solution.iterations >= 1 && solution.solver_status == ZP_SOLVE_CONVERGED);
    for (t = 0; t < T; t++) CHECK(controls[t] >= -0.5 - 1e-12 && controls[t] <= 0.5 + 1e-12);
    CHECK(solution.cost > unbounded_cost);

    /* Bad problems. */
    problem.u_high = NULL;
    CHECK_STATUS(zp_lq_solve(&problem, &solution), ZP_NULL_POINTER);
    CHECK(last_error_mentions("u_high"));
    problem.u_low = NULL;
    q[5] = NAN;
    CHECK_STATUS(zp_lq_solve(&problem, &solution), ZP_NON_FINITE);
    CHECK(last_error_mentions("problem.q[5]"));
    q[5] = 0.0;
    r[3] = -1.0; /* not convex in u */
    CHECK_STATUS(zp_lq_solve(&problem, &solution), ZP_SOLVER);
    r[3] = 0.01;
    problem.b = NULL;
    CHECK_STATUS(zp_lq_solve(&problem, &solution), ZP_NULL_POINTER);
    problem.b = b;
    problem.horizon = 0;
    CHECK_STATUS(zp_lq_solve(&problem, &solution), ZP_INVALID_ARGUMENT);
    CHECK_STATUS(zp_lq_solve(NULL, &solution), ZP_NULL_POINTER);
    CHECK_STATUS(zp_lq_solve(&problem, NULL), ZP_NULL_POINTER);
}

/* A sampling plan on a fresh planar planner with `settings`: within the limits, one candidate,
 * every iteration run, and with `towards_goal` closer to the goal at (36, 36) (box-DDP goes
 * down and to the right; a sampled plan may go around an obstacle first). */
static void check_sampled_plan(const char *dir, const zp_planner_settings *settings, int towards_goal) {
    zp_bundle *bundle = NULL;
    zp_planner *planner = NULL;
    zp_plan_info plan;
    unsigned char obs[1600], goal[1600];
    double action[2];

    planar_frame(obs, 5, 5);
    planar_frame(goal, 36, 36);
    CHECK_STATUS(zp_bundle_load(dir, &bundle), ZP_OK);
    CHECK_STATUS(zp_planner_new(&bundle, settings, &planner), ZP_OK);
    CHECK(bundle == NULL);
    CHECK_STATUS(zp_planner_set_goal(planner, goal, 1600), ZP_OK);
    CHECK_STATUS(zp_planner_plan(planner, obs, 1600, action, 2), ZP_OK);
    CHECK(action[0] >= -3.0 && action[0] <= 3.0 && action[1] >= -3.0 && action[1] <= 3.0);
    if (towards_goal) CHECK(action[0] + action[1] > 1.0);
    CHECK_STATUS(zp_planner_get_plan_info(planner, &plan), ZP_OK);
    CHECK(plan.candidates == 1 && isfinite(plan.cost));
    CHECK(plan.sampling_iterations == settings->sampling_iterations);
    CHECK(!plan.sampling_stopped_by_budget);
    zp_planner_free(planner);
}

/* CEM and MPPI, diagonal and full covariance, through the same planner API; bad settings are
 * refused with the field named. */
static void test_sampling_planner(const char *dir) {
    zp_bundle *bundle = NULL;
    zp_planner *planner = NULL;
    zp_planner_settings settings;
    unsigned planners[2] = {ZP_PLANNER_CEM, ZP_PLANNER_MPPI};
    int k;

    CHECK_STATUS(zp_bundle_load(dir, &bundle), ZP_OK);
    CHECK_STATUS(zp_planner_settings_reference("planar", &settings), ZP_OK);
    settings.planner = 9;
    CHECK_STATUS(zp_planner_new(&bundle, &settings, &planner), ZP_INVALID_ARGUMENT);
    CHECK(last_error_mentions("planner"));
    settings.planner = ZP_PLANNER_CEM;
    settings.samples = 256;
    settings.sampling_iterations = 6;
    settings.elites = 257;
    CHECK_STATUS(zp_planner_new(&bundle, &settings, &planner), ZP_INVALID_ARGUMENT);
    CHECK(last_error_mentions("elites"));
    settings.elites = 32;
    settings.std_init = NAN;
    CHECK_STATUS(zp_planner_new(&bundle, &settings, &planner), ZP_INVALID_ARGUMENT);
    CHECK(last_error_mentions("std_init"));
    CHECK(planner == NULL && bundle != NULL);
    zp_bundle_free(bundle);

    /* A 20 x 20 covariance refitted from 32 elites of 256 samples is too noisy for 6
     * iterations to settle on the direction: its plans are only checked for the limits. */
    settings.std_init = 1.0;
    for (k = 0; k < 4; k++) {
        settings.planner = planners[k % 2];
        settings.full_covariance = k >= 2;
        check_sampled_plan(dir, &settings, !settings.full_covariance);
    }
}

/* Two 16 x 16 context frames with a bright square (the video bundle's world). */
static void video_frames(unsigned char *frames) {
    int f, r, c;
    for (f = 0; f < 2; f++)
        for (r = 0; r < 16; r++)
            for (c = 0; c < 16; c++)
                frames[(f * 16 + r) * 16 + c] = (r >= 3 && r < 7 && c >= 3 && c < 7) ? 255 : 20;
}

/* The observation-space planner over a video bundle: kind checks both ways, pixel goals with
 * bad input, and a designated pixel carried onto its goal by the planner's own predictions. */
static void test_observation_planner(const char *video_dir, const char *planar_dir) {
    zp_bundle *bundle = NULL;
    zp_planner *planner = NULL, *latent = NULL;
    zp_bundle_info binfo;
    zp_planner_info info;
    zp_planner_settings latent_settings = zp_planner_settings_default();
    zp_observation_settings settings = zp_observation_settings_default();
    zp_plan_info plan;
    unsigned char frames[512], goal_image[512];
    float frames_f32[512], predicted[15 * 256], maps[15 * 256];
    double from[2] = {4.5, 4.5}, to[2] = {11.5, 10.5}, outside[2] = {16.0, 3.0};
    double nan_point[2] = {NAN, 1.0}, two[4] = {1, 1, 2, 2};
    double action[2], actions[30], states[2], carried[2], position[2] = {4.5, 4.5};
    double closest = 1e9, d;
    int i, t;

    CHECK(settings.planner == ZP_PLANNER_CEM && settings.samples == 200);
    CHECK(settings.sampling_iterations == 3 && settings.elites == 10);
    CHECK(settings.horizon == 15 && settings.action_repeat == 3 && settings.final_weight == 10.0);
    CHECK(settings.full_covariance);

    CHECK_STATUS(zp_bundle_load(video_dir, &bundle), ZP_OK);
    CHECK_STATUS(zp_bundle_get_info(bundle, &binfo), ZP_OK);
    CHECK(binfo.kind == ZP_BUNDLE_VIDEO && binfo.frames == 2 && binfo.channels == 1);
    CHECK(binfo.time_step > 0.0);
    CHECK(binfo.height == 16 && binfo.width == 16 && binfo.observation_len == 512);
    CHECK(binfo.latent_dim == 0 && binfo.action_dim == 2 && binfo.max_maps == 4);
    CHECK(!binfo.has_decoder && !binfo.has_reward && !binfo.native_dynamics);

    /* A video bundle is no latent planner's, and box-DDP does not plan in observation space;
     * both are refused before the bundle is taken. */
    CHECK_STATUS(zp_planner_new(&bundle, &latent_settings, &planner), ZP_INVALID_ARGUMENT);
    CHECK(last_error_mentions("zp_planner_new_observation"));
    settings.planner = ZP_PLANNER_DDP;
    CHECK_STATUS(zp_planner_new_observation(&bundle, &settings, &planner), ZP_INVALID_ARGUMENT);
    CHECK(last_error_mentions("settings.planner"));
    settings = zp_observation_settings_default();
    settings.final_weight = -1.0;
    CHECK_STATUS(zp_planner_new_observation(&bundle, &settings, &planner), ZP_INVALID_ARGUMENT);
    CHECK(last_error_mentions("final_weight"));
    CHECK_STATUS(zp_planner_new_observation(&bundle, NULL, &planner), ZP_NULL_POINTER);
    CHECK(bundle != NULL && planner == NULL);

    /* A smaller search than the default keeps the test quick; the exact predictor needs no more. */
    settings = zp_observation_settings_default();
    settings.samples = 64;
    settings.elites = 8;
    settings.seed = 3;
    CHECK_STATUS(zp_planner_new_observation(&bundle, &settings, &planner), ZP_OK);
    CHECK(bundle == NULL && planner != NULL);
    CHECK_STATUS(zp_planner_get_info(planner, &info), ZP_OK);
    CHECK(info.kind == ZP_BUNDLE_VIDEO && info.observation_len == 512);
    CHECK(info.frames == 2 && info.channels == 1 && info.height == 16 && info.width == 16);
    CHECK(info.latent_dim == 0 && info.action_dim == 2 && info.horizon == 15);
    CHECK(info.designated_pixels == 0 && info.max_designated_pixels == 4);

    video_frames(frames);
    CHECK_STATUS(zp_planner_plan(planner, frames, 512, action, 2), ZP_NO_GOAL);
    CHECK(last_error_mentions("pixel"));

    /* Bad pixel goals, each named. */
    CHECK_STATUS(zp_planner_set_pixel_goal(planner, 1, NULL, to), ZP_NULL_POINTER);
    CHECK(last_error_mentions("from_xy"));
    CHECK_STATUS(zp_planner_set_pixel_goal(planner, 0, from, to), ZP_INVALID_ARGUMENT);
    CHECK_STATUS(zp_planner_set_pixel_goal(planner, 1, from, outside), ZP_INVALID_ARGUMENT);
    CHECK(last_error_mentions("outside"));
    CHECK_STATUS(zp_planner_set_pixel_goal(planner, 1, nan_point, to), ZP_NON_FINITE);
    CHECK(last_error_mentions("from_xy"));
    CHECK_STATUS(zp_planner_set_pixel_goal(NULL, 1, from, to), ZP_NULL_POINTER);

    /* What only a latent planner does is refused, naming the function. */
    memset(goal_image, 0, sizeof goal_image);
    CHECK_STATUS(zp_planner_set_goal(planner, goal_image, 512), ZP_INVALID_ARGUMENT);
    CHECK(last_error_mentions("zp_planner_set_goal"));
    CHECK_STATUS(zp_planner_shift(planner), ZP_INVALID_ARGUMENT);
    CHECK_STATUS(zp_planner_get_gains(planner, actions, 30), ZP_INVALID_ARGUMENT);

    CHECK_STATUS(zp_planner_set_pixel_goal(planner, 1, from, to), ZP_OK);
    CHECK_STATUS(zp_planner_get_info(planner, &info), ZP_OK);
    CHECK(info.designated_pixels == 1);
    CHECK_STATUS(zp_planner_set_designated_pixels(planner, 2, two), ZP_INVALID_ARGUMENT);
    CHECK_STATUS(zp_planner_plan(planner, frames, 511, action, 2), ZP_SIZE_MISMATCH);
    CHECK_STATUS(zp_planner_plan(planner, frames, 512, action, 1), ZP_SIZE_MISMATCH);

    /* The world moves the spot by the action, as the predictor does; the planner sees only the
     * frames and carries the spot with its own map. 9.2 px at 1 px per axis and step. */
    for (t = 0; t < 14; t++) {
        CHECK_STATUS(zp_planner_plan(planner, frames, 512, action, 2), ZP_OK);
        CHECK(action[0] >= -1.0 && action[0] <= 1.0 && action[1] >= -1.0 && action[1] <= 1.0);
        position[0] += action[0];
        position[1] += action[1];
        d = hypot(position[0] - to[0], position[1] - to[1]);
        if (d < closest) closest = d;
    }
    CHECK(closest < 0.5);
    CHECK_STATUS(zp_planner_get_designated_pixels(planner, carried, 2), ZP_OK);
    CHECK(hypot(carried[0] - position[0], carried[1] - position[1]) < 1e-2);
    CHECK_STATUS(zp_planner_get_designated_pixels(planner, carried, 4), ZP_SIZE_MISMATCH);

    CHECK_STATUS(zp_planner_get_plan_info(planner, &plan), ZP_OK);
    CHECK(plan.solver_status == ZP_SOLVE_MAX_ITERATIONS && plan.candidates == 1);
    CHECK(plan.sampling_iterations == 3 && plan.iterations == 3 && !plan.sampling_stopped_by_budget);
    CHECK(plan.predictor_calls == 45 && plan.predictor_seconds > 0.0);
    CHECK(plan.total_seconds >= plan.predictor_seconds && isfinite(plan.cost) && plan.cost >= 0.0);
    CHECK_STATUS(zp_planner_get_plan(planner, states, 2, actions, 30), ZP_SIZE_MISMATCH);
    CHECK_STATUS(zp_planner_get_plan(planner, NULL, 0, actions, 30), ZP_OK);
    for (i = 0; i < 30; i++) CHECK(actions[i] >= -1.0 && actions[i] <= 1.0);
    CHECK(actions[0] == action[0] && actions[1] == action[1]);

    CHECK_STATUS(zp_planner_get_predicted_frames(planner, predicted, 15 * 256 - 1), ZP_SIZE_MISMATCH);
    CHECK_STATUS(zp_planner_get_predicted_frames(planner, predicted, 15 * 256), ZP_OK);
    for (i = 0; i < 15 * 256; i++) CHECK(predicted[i] >= -1e-3f && predicted[i] <= 1.001f);
    CHECK_STATUS(zp_planner_get_pixel_maps(planner, NULL, 15 * 256), ZP_NULL_POINTER);
    CHECK_STATUS(zp_planner_get_pixel_maps(planner, maps, 15 * 256), ZP_OK);
    for (t = 0; t < 15; t++) {
        double sum = 0.0;
        for (i = 0; i < 256; i++) sum += maps[t * 256 + i];
        CHECK(fabs(sum - 1.0) < 1e-3);
    }

    /* A retrained video bundle swaps in and keeps the goal and the carried spot; a latent one
     * is refused before it is taken. */
    CHECK_STATUS(zp_bundle_load(planar_dir, &bundle), ZP_OK);
    CHECK_STATUS(zp_planner_swap_bundle(planner, &bundle), ZP_INVALID_ARGUMENT);
    CHECK(bundle != NULL && last_error_mentions("zp_planner_new"));
    zp_bundle_free(bundle);
    CHECK_STATUS(zp_bundle_load(video_dir, &bundle), ZP_OK);
    CHECK_STATUS(zp_planner_swap_bundle(planner, &bundle), ZP_OK);
    CHECK(bundle == NULL);
    CHECK_STATUS(zp_planner_get_info(planner, &info), ZP_OK);
    CHECK(info.designated_pixels == 1 && info.kind == ZP_BUNDLE_VIDEO);
    CHECK_STATUS(zp_planner_get_designated_pixels(planner, states, 2), ZP_OK);
    CHECK(states[0] == carried[0] && states[1] == carried[1]);
    CHECK_STATUS(zp_planner_plan(planner, frames, 512, action, 2), ZP_OK);

    /* Floats: NaN refused with the planner kept; in-range frames plan. A tracked spot is set
     * anew. */
    for (i = 0; i < 512; i++) frames_f32[i] = frames[i] / 255.0f;
    frames_f32[7] = NAN;
    CHECK_STATUS(zp_planner_plan_f32(planner, frames_f32, 512, action, 2), ZP_NON_FINITE);
    frames_f32[7] = frames[7] / 255.0f;
    CHECK_STATUS(zp_planner_set_designated_pixels(planner, 1, position), ZP_OK);
    CHECK_STATUS(zp_planner_plan_f32(planner, frames_f32, 512, action, 2), ZP_OK);
    CHECK_STATUS(zp_planner_reset(planner), ZP_OK);
    zp_planner_free(planner);

    /* And a latent planner refuses what only an observation planner does. */
    CHECK_STATUS(zp_bundle_load(planar_dir, &bundle), ZP_OK);
    CHECK_STATUS(zp_bundle_get_info(bundle, &binfo), ZP_OK);
    CHECK(binfo.kind == ZP_BUNDLE_LATENT && binfo.frames == 1 && binfo.max_maps == 0);
    CHECK_STATUS(zp_planner_new_observation(&bundle, &settings, &latent), ZP_INVALID_ARGUMENT);
    CHECK(last_error_mentions("zp_planner_new"));
    CHECK_STATUS(zp_planner_new(&bundle, &latent_settings, &latent), ZP_OK);
    CHECK_STATUS(zp_planner_get_info(latent, &info), ZP_OK);
    CHECK(info.kind == ZP_BUNDLE_LATENT && info.max_designated_pixels == 0);
    CHECK_STATUS(zp_planner_set_pixel_goal(latent, 1, from, to), ZP_INVALID_ARGUMENT);
    CHECK(last_error_mentions("zp_planner_set_pixel_goal"));
    CHECK_STATUS(zp_planner_set_designated_pixels(latent, 1, from), ZP_INVALID_ARGUMENT);
    CHECK_STATUS(zp_planner_get_designated_pixels(latent, carried, 2), ZP_INVALID_ARGUMENT);
    CHECK_STATUS(zp_planner_get_predicted_frames(latent, predicted, 15 * 256), ZP_INVALID_ARGUMENT);
    CHECK_STATUS(zp_planner_get_pixel_maps(latent, maps, 15 * 256), ZP_INVALID_ARGUMENT);
    zp_planner_free(latent);
}

/* A frame of the swing bundle (1 x 48 x 48): a bright block at (row, col). */
static void swing_frame(unsigned char *frame, int row, int col) {
    int r, c;
    memset(frame, 0, 48 * 48);
    for (r = row; r < row + 4; r++)
        for (c = col; c < col + 4; c++) frame[r * 48 + c] = 255;
}

/* zp_planner_plan_frame stacks the frames as a caller of zp_planner_plan would: on the
 * two-frame swing bundle, the same actions as plans from [previous, newest], the first frame
 * repeated after a reset, and the goal frame repeated. */
static void test_frame_stacking(const char *planar_dir) {
    char swing[1024];
    zp_bundle *a = NULL, *b = NULL;
    zp_planner *by_frame = NULL, *by_stack = NULL;
    zp_planner_settings settings;
    zp_bundle_info info;
    unsigned char frames[4][48 * 48], stack[2 * 48 * 48];
    double from_frame[1], from_stack[1];
    int k;
    snprintf(swing, sizeof swing, "%s/../swing", planar_dir);
    CHECK_STATUS(zp_bundle_load(swing, &a), ZP_OK);
    CHECK_STATUS(zp_bundle_load(swing, &b), ZP_OK);
    CHECK_STATUS(zp_bundle_get_info(a, &info), ZP_OK);
    CHECK(info.frames == 2 && info.channels == 1 && info.observation_len == 2 * 48 * 48);
    CHECK(info.time_step == 0.02);
    CHECK_STATUS(zp_planner_settings_for_bundle(a, "swing", &settings), ZP_OK);
    CHECK_STATUS(zp_planner_new(&a, &settings, &by_frame), ZP_OK);
    CHECK_STATUS(zp_planner_new(&b, &settings, &by_stack), ZP_OK);
    for (k = 0; k < 4; k++) swing_frame(frames[k], 4 + 8 * k, 20);

    CHECK_STATUS(zp_planner_set_goal_frame(by_frame, frames[3], 48 * 48 - 1), ZP_SIZE_MISMATCH);
    CHECK(last_error_mentions("frame"));
    CHECK_STATUS(zp_planner_set_goal_frame(by_frame, frames[3], 48 * 48), ZP_OK);
    memcpy(stack, frames[3], 48 * 48);
    memcpy(stack + 48 * 48, frames[3], 48 * 48);
    CHECK_STATUS(zp_planner_set_goal(by_stack, stack, sizeof stack), ZP_OK);

    CHECK_STATUS(zp_planner_plan_frame(by_frame, frames[0], 2 * 48 * 48, from_frame, 1),
                 ZP_SIZE_MISMATCH);
    CHECK(last_error_mentions("frame"));
    for (k = 0; k < 5; k++) {
        /* Steps 0..2 over frames 0, 1, 2; a reset; step 4 starts again from frame 1. */
        const int newest = k < 3 ? k : 1, previous = (k == 0 || k == 4) ? newest : newest - 1;
        if (k == 3) {
            CHECK_STATUS(zp_planner_reset(by_frame), ZP_OK);
            CHECK_STATUS(zp_planner_reset(by_stack), ZP_OK);
            continue;
        }
        memcpy(stack, frames[previous], 48 * 48);
        memcpy(stack + 48 * 48, frames[newest], 48 * 48);
        CHECK_STATUS(zp_planner_plan_frame(by_frame, frames[newest], 48 * 48, from_frame, 1), ZP_OK);
        CHECK_STATUS(zp_planner_plan(by_stack, stack, sizeof stack, from_stack, 1), ZP_OK);
        CHECK(from_frame[0] == from_stack[0]);
    }
    zp_planner_free(by_frame);
    zp_planner_free(by_stack);
}

int main(int argc, char **argv) {
    zp_bundle *bundle;
    if (argc != 7) {
        fprintf(stderr,
                "usage: %s ORT_LIBRARY PLANAR_BUNDLE SCRATCH_DIR OTHER_BUNDLE VIDEO_BUNDLE "
                "CHOSEN_BUNDLE\n",
                argv[0]);
        return 2;
    }
    test_version_and_status();
    planar_dir_for_log = argv[2];
    test_runtime(argv[1]);
    bundle = test_bundle(argv[2], argv[3]);
    test_settings();
    test_bundle_settings(argv[2], argv[6], argv[5]);
    test_planner(bundle, argv[2], argv[4]);
    test_sampling_planner(argv[2]);
    test_frame_stacking(argv[2]);
    test_observation_planner(argv[5], argv[2]);
    zp_bundle_free(NULL);
    test_buffer(argv[3]);
    test_lq();
    if (failures) {
        fprintf(stderr, "test_zplan: %d checks failed\n", failures);
        return 1;
    }
    printf("test_zplan: all checks passed\n");
    return 0;
}
