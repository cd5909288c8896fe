// The C++17 wrapper include/zplan.hpp end to end, and the C API's thread rules: a planner
// moved to another thread, and two planners planning at once on two threads, giving the same
// actions as one after the other.
//
// usage: test_zplan_cpp ORT_LIBRARY PLANAR_BUNDLE SCRATCH_DIR OTHER_BUNDLE VIDEO_BUNDLE
//        CHOSEN_BUNDLE (the planar bundle recording "planner": {"terminal_steps": 12})
// (VIDEO_BUNDLE: a predictor that shifts a 16x16 image and its maps by exactly the action)
#include "zplan.hpp"
#include "zplan.hpp"  // twice on purpose: the include guard must hold

#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

static int failures = 0;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            std::fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
            failures++;                                                                \
        }                                                                              \
    } while (0)

// Runs `f` and returns the status of the zplan::Error it throws (ZP_OK when none).
template <typename F>
static zp_status status_of(F &&f) {
    try {
        f();
    } catch (const zplan::Error &e) {
        return e.status();
    }
    return ZP_OK;
}

// A planar frame: black, with the 2x2 agent block at (row, col).
static std::vector<std::uint8_t> planar_frame(int row, int col) {
    std::vector<std::uint8_t> image(40 * 40, 0);
    for (int r = row; r < row + 2; r++)
        for (int c = col; c < col + 2; c++) image[r * 40 + c] = 255;
    return image;
}

// Ten MPC steps of a simulated planar agent (clipped to the field) from `start`.
static std::vector<double> episode(zplan::Planner &planner, int start) {
    std::vector<double> actions;
    double row = start, col = start;
    planner.reset();
    planner.set_goal(planar_frame(36, 36));
    for (int step = 0; step < 10; step++) {
        auto action = planner.plan(planar_frame(static_cast<int>(row), static_cast<int>(col)));
        actions.insert(actions.end(), action.begin(), action.end());
        row = std::fmin(std::fmax(row + action[0], 1.5), 37.5);
        col = std::fmin(std::fmax(col + action[1], 1.5), 37.5);
    }
    return actions;
}

// Observation-space planning through the wrapper: a designated pixel carried to its goal on
// the exact-shift video bundle, the predictions read back, the same seed giving the same plan,
// a retrained bundle swapped in.
static void observation_planning(const std::string &video_dir) {
    std::vector<std::uint8_t> frames(2 * 16 * 16, 20);
    for (int f = 0; f < 2; f++)
        for (int r = 3; r < 7; r++)
            for (int c = 3; c < 7; c++) frames[(f * 16 + r) * 16 + c] = 255;
    auto settings = zplan::observation_settings();
    settings.samples = 64;
    settings.elites = 8;
    std::vector<double> first_plans[2];
    for (auto &first : first_plans) {
        zplan::Bundle bundle(video_dir);
        CHECK(bundle.info().kind == ZP_BUNDLE_VIDEO);
        zplan::Planner planner(std::move(bundle), settings);
        CHECK(status_of([&] { planner.set_pixel_goals({{4.5, 4.5, 16.5, 3.0}}); }) ==
              ZP_INVALID_ARGUMENT);
        planner.set_pixel_goals({{4.5, 4.5, 11.5, 10.5}});
        CHECK(planner.info().designated_pixels == 1);
        double x = 4.5, y = 4.5;
        for (int t = 0; t < 14; t++) {
            const auto action = planner.plan(frames);
            if (t == 0) first = planner.planned_actions();
            x += action[0];
            y += action[1];
        }
        CHECK(std::hypot(x - 11.5, y - 10.5) < 2.0);
        const auto carried = planner.designated_pixels();
        CHECK(carried.size() == 2 && std::hypot(carried[0] - x, carried[1] - y) < 1e-2);
        CHECK(planner.predicted_frames().size() == 15 * 256);
        CHECK(planner.pixel_maps().size() == 15 * 256);
        CHECK(status_of([&] { planner.set_designated_pixels({1.0}); }) == ZP_SIZE_MISMATCH);
        planner.set_designated_pixels({x, y});
        // A retrained bundle swaps in; the designated pixel and its goal stay.
        const auto before = planner.designated_pixels();
        planner.swap_bundle(zplan::Bundle(video_dir));
        CHECK(planner.designated_pixels() == before);
        planner.plan(frames);
    }
    CHECK(first_plans[0].size() == 30 && first_plans[0] == first_plans[1]);
}

int main(int argc, char **argv) {
    if (argc != 7) {
        std::fprintf(stderr,
                     "usage: %s ORT_LIBRARY PLANAR_BUNDLE SCRATCH_DIR OTHER_BUNDLE VIDEO_BUNDLE "
                     "CHOSEN_BUNDLE\n",
                     argv[0]);
        return 2;
    }
    const std::string ort = argv[1], bundle_dir = argv[2], scratch = argv[3];

    CHECK(zplan::version() == ZPLAN_VERSION_STRING);
    CHECK(status_of([&] { zplan::Bundle b(bundle_dir); }) == ZP_RUNTIME);
    CHECK(zplan::last_error_message().find("zp_runtime_init") != std::string::npos);
    CHECK(status_of([&] { zplan::init_runtime("/no/such/library.so"); }) == ZP_RUNTIME);
    CHECK(zplan::runtime_version().empty());
    CHECK(status_of([] { zplan::set_log_callback(nullptr, nullptr, 9); }) == ZP_INVALID_ARGUMENT);
    static std::vector<std::string> messages;
    zplan::set_log_callback(
        [](std::uint32_t, const char *message, void *) { messages.emplace_back(message); },
        nullptr, ZP_LOG_INFO);
    zplan::init_runtime(ort);
    zplan::set_log_callback(nullptr, nullptr);
    CHECK(!messages.empty());
    CHECK(zplan::runtime_version() == "1.31.1");
    CHECK(zplan::blas_threads() == 1);
    CHECK(status_of([] { zplan::set_blas_threads(0); }) == ZP_INVALID_ARGUMENT);
    CHECK(status_of([&] { zplan::Bundle b(scratch + "/missing"); }) == ZP_BUNDLE);
    CHECK(status_of([&] { zplan::reference_settings("pong"); }) == ZP_INVALID_ARGUMENT);
    try {
        zplan::reference_settings("pong");
    } catch (const zplan::Error &e) {
        CHECK(std::string(e.what()).find("pong") != std::string::npos);
    }

    zplan::Bundle bundle(bundle_dir);
    CHECK(bundle.info().observation_len == 1600);
    const auto bundle_bounds = bundle.action_bounds();
    CHECK(bundle_bounds.first == std::vector<double>({-3.0, -3.0}));
    CHECK(bundle_bounds.second == std::vector<double>({3.0, 3.0}));
    const auto settings = zplan::reference_settings("planar");
    zplan::Planner planner(std::move(bundle), settings);
    CHECK(planner.info().action_dim == 2 && planner.info().horizon == 10);
    CHECK(status_of([&] { planner.plan(planar_frame(5, 5)); }) == ZP_NO_GOAL);
    CHECK(status_of([&] { planner.set_goal(std::vector<std::uint8_t>(10)); }) == ZP_SIZE_MISMATCH);

    // One episode here gives the reference; the planner then moves to a thread and back.
    const auto reference = episode(planner, 5);
    CHECK(reference.size() == 20);
    CHECK(reference[0] > 0.0 && reference[1] > 0.0);
    {
        // ONNX Runtime for the dynamics: the same episode, to the rounding of the networks.
        zp_bundle_options options = zp_bundle_options_default();
        options.native_dynamics = false;
        zplan::Bundle plain(bundle_dir, options);
        CHECK(!plain.info().native_dynamics);
        zplan::Planner onnx(std::move(plain), settings);
        const auto actions = episode(onnx, 5);
        double largest = 0.0;
        for (std::size_t i = 0; i < reference.size(); i++)
            largest = std::max(largest, std::abs(actions[i] - reference[i]));
        CHECK(largest < 1e-2);
    }
    auto bounds = planner.action_bounds();
    for (std::size_t i = 0; i < reference.size(); i++)
        CHECK(reference[i] >= bounds.first[i % 2] && reference[i] <= bounds.second[i % 2]);
    CHECK(planner.planned_states().size() == 22);
    CHECK(planner.planned_actions().size() == 20);
    CHECK(planner.gains().size() == 40);
    {
        // A deadline that leaves no time after encoding: the previous plan's next action.
        const auto previous = planner.planned_actions();
        planner.set_deadline(1e-12);
        const auto action = planner.plan(planar_frame(5, 5));
        CHECK(action[0] == previous[2] && action[1] == previous[3]);
        CHECK(planner.plan_info().cut == ZP_CUT_SOLVE);
        CHECK(status_of([&] { planner.set_deadline(-1.0); }) == ZP_INVALID_ARGUMENT);
        planner.set_deadline(0.0);
        planner.plan(planar_frame(5, 5));
        CHECK(planner.plan_info().cut == ZP_CUT_NOTHING);
    }
    {
        // The same arrays through a const planner into caller storage; a short one is refused.
        const zplan::Planner &seen = planner;
        double states[22], actions[20], gains[40];
        seen.planned_states(states, 22);
        seen.planned_actions(actions, 20);
        seen.gains(gains, 40);
        CHECK(std::vector<double>(states, states + 22) == seen.planned_states());
        CHECK(std::vector<double>(actions, actions + 20) == seen.planned_actions());
        CHECK(std::vector<double>(gains, gains + 40) == seen.gains());
        CHECK(status_of([&] { seen.planned_actions(actions, 19); }) == ZP_SIZE_MISMATCH);
        CHECK(seen.get() == planner.get());
    }
    {
        // A float goal image equal to the bytes' gives the same plan as the byte goal.
        const auto goal = planar_frame(30, 30);
        std::vector<float> goal_f32(goal.begin(), goal.end());
        for (float &v : goal_f32) v *= 1.0f / 255.0f;  // the library's own conversion
        zplan::Planner bytes(zplan::Bundle(bundle_dir), settings), floats(zplan::Bundle(bundle_dir), settings);
        bytes.set_goal(goal);
        floats.set_goal_f32(goal_f32);
        CHECK(bytes.plan(planar_frame(5, 5)) == floats.plan(planar_frame(5, 5)));
        // One frame at a time: planar stacks one frame, so plan_frame plans as plan does.
        zplan::Planner framed(zplan::Bundle(bundle_dir), settings), whole(zplan::Bundle(bundle_dir), settings);
        framed.set_goal_frame(goal);
        whole.set_goal(goal);
        CHECK(framed.plan_frame(planar_frame(5, 5)) == whole.plan(planar_frame(5, 5)));
        CHECK(status_of([&] { framed.plan_frame(std::vector<std::uint8_t>(7)); }) ==
              ZP_SIZE_MISMATCH);
        // A camera at twice the resolution, in RGB, converted to the bundle's frame.
        std::vector<std::uint8_t> camera(80 * 80 * 3, 0);
        for (int r = 10; r < 14; r++)
            for (int c = 10; c < 14; c++)
                for (int k = 0; k < 3; k++) camera[(r * 80 + c) * 3 + k] = 255;
        const auto converted =
            zplan::convert_frame(camera.data(), 80, 80, 3, zplan::Bundle(bundle_dir).info());
        CHECK(converted == planar_frame(5, 5));
        {
            // Block means when halving, BT.601 luma for RGB, the covering pixel when doubling.
            const std::uint8_t grey[4 * 4] = {0, 4, 8, 8, 4, 0, 8, 8, 1, 1, 2, 2, 1, 1, 2, 2};
            std::uint8_t half[2 * 2], red[1], doubled[2 * 2];
            zplan::convert_frame(grey, 4, 4, 1, half, 2, 2, 1);
            CHECK(half[0] == 2 && half[1] == 8 && half[2] == 1 && half[3] == 2);
            const std::uint8_t pure_red[3] = {255, 0, 0};
            zplan::convert_frame(pure_red, 1, 1, 3, red, 1, 1, 1);
            CHECK(red[0] == 76);
            const std::uint8_t one[1] = {9};
            zplan::convert_frame(one, 1, 1, 1, doubled, 2, 2, 1);
            CHECK(doubled[0] == 9 && doubled[3] == 9);
            CHECK(status_of([&] { zplan::convert_frame(one, 1, 1, 2, doubled, 2, 2, 1); }) ==
                  ZP_INVALID_ARGUMENT);
        }
        goal_f32[7] = NAN;
        CHECK(status_of([&] { floats.set_goal_f32(goal_f32); }) == ZP_NON_FINITE);
    }
    {
        // One stage of x' = x + u from x0 = 1 with costs x^2/2 + u^2/2 and x_T^2/2: the cost
        // 1/2 + 1/2 u^2 + 1/2 (1 + u)^2 is least at u = -1/2 (cost 3/4), and K_0 = -1/2.
        const double one = 1.0, x0 = 1.0;
        zp_lq_problem problem{};
        problem.n = problem.m = problem.horizon = 1;
        problem.a = problem.b = problem.q = problem.r = problem.q_terminal = &one;
        problem.x0 = &x0;
        const auto solution = zplan::lq_solve(problem);
        CHECK(std::abs(solution.controls[0] + 0.5) < 1e-12);
        CHECK(std::abs(solution.states[1] - 0.5) < 1e-12);
        CHECK(std::abs(solution.gains[0] + 0.5) < 1e-12);
        CHECK(std::abs(solution.cost - 0.75) < 1e-12);
        zp_lq_problem wrong = problem;
        wrong.x0 = nullptr;
        CHECK(status_of([&] { zplan::lq_solve(wrong); }) == ZP_NULL_POINTER);
    }
    CHECK(planner.plan_info().candidates == 7);
    planner.shift();
    {
        // Refused before anything is taken: the bundle stays with the caller.
        zplan::Bundle other(argv[4]);
        CHECK(status_of([&] { planner.swap_bundle(std::move(other)); }) == ZP_SIZE_MISMATCH);
        CHECK(other.get() != nullptr && other.info().height == 8);
    }
    planner.swap_bundle(zplan::Bundle(bundle_dir));

    // A planner built with the same seed repeats the episode exactly, on another thread.
    std::vector<double> moved;
    {
        zplan::Planner other(zplan::Bundle(bundle_dir), settings);
        std::thread worker([&, p = std::move(other)]() mutable { moved = episode(p, 5); });
        worker.join();
    }
    CHECK(moved == reference);

    // zplan's settings for the task add a terminal weight; its plans head for the goal too.
    const auto tuned = zplan::task_settings("planar");
    CHECK(tuned.terminal_steps == 5 && tuned.horizon == settings.horizon);
    zplan::Bundle chosen(bundle_dir);
    // The shipped planar bundle records no choices of its own: the task's settings.
    CHECK(zplan::bundle_settings(chosen, "planar").terminal_steps == tuned.terminal_steps);
    CHECK(status_of([&] { zplan::bundle_settings(chosen, "pong"); }) == ZP_INVALID_ARGUMENT);
    CHECK(zplan::bundle_settings(zplan::Bundle(argv[6]), "planar").terminal_steps == 12);
    zplan::Planner terminal(std::move(chosen), tuned);
    const auto steered = episode(terminal, 5);
    CHECK(steered[0] > 0.0 && steered[1] > 0.0);

    // The sampling planners behind the same class: MPPI heads for the goal too.
    {
        auto sampling = settings;
        sampling.planner = ZP_PLANNER_MPPI;
        sampling.samples = 256;
        sampling.sampling_iterations = 6;
        sampling.elites = 32;
        zplan::Planner mppi(zplan::Bundle(bundle_dir), sampling);
        const auto sampled = episode(mppi, 5);
        // Closer to the goal at (36, 36), maybe around an obstacle (down the left edge).
        CHECK(sampled[0] + sampled[1] > 1.0);
    }

    // Two planners on two threads at once give what two fresh ones give one after the other.
    std::vector<double> seq_a, seq_b, par_a, par_b;
    {
        zplan::Planner a(zplan::Bundle(bundle_dir), settings), b(zplan::Bundle(bundle_dir), settings);
        seq_a = episode(a, 8);
        seq_b = episode(b, 12);
    }
    {
        zplan::Planner a(zplan::Bundle(bundle_dir), settings), b(zplan::Bundle(bundle_dir), settings);
        std::thread ta([&] { par_a = episode(a, 8); });
        std::thread tb([&] { par_b = episode(b, 12); });
        ta.join();
        tb.join();
    }
    CHECK(!seq_a.empty() && par_a == seq_a);
    CHECK(!seq_b.empty() && par_b == seq_b);

    // A buffer records transitions; the destructor commits.
    {
        auto buffer = zplan::Buffer::create(scratch + "/buffer", {1, 40, 40}, 2);
        const auto o0 = planar_frame(5, 5), o1 = planar_frame(6, 6);
        const float action[2] = {1.0f, 1.0f};
        buffer.append(o0.data(), o1.data(), o0.size(), action, 2, -1.0f, false);
        buffer.append(o1.data(), o0.data(), o1.size(), action, 2, -1.0f, true);
        CHECK(buffer.transitions().first == 2 && buffer.transitions().second == 0);
        CHECK(status_of([&] { buffer.append(o0.data(), o1.data(), 3, action, 2, 0.0f, false); }) ==
              ZP_SIZE_MISMATCH);
    }
    {
        auto buffer = zplan::Buffer::open(scratch + "/buffer");
        CHECK(buffer.transitions().second == 2);
        auto moved_buffer = std::move(buffer);
        moved_buffer.close();
    }
    CHECK(status_of([&] { zplan::Buffer::create(scratch + "/buffer", {1, 40, 40}, 2); }) == ZP_IO);

    // Retraining from the control loop: the job runs on the trainer's thread while the planner
    // keeps planning; the finished job's bundle is swapped in; a failed job throws its error.
    {
        auto trainer = zplan::Trainer::command("sleep 0.2 && cp -R '" + bundle_dir + "/.' \"$ZPLAN_OUT\"");
        trainer.start({"planar", scratch + "/buffer", scratch + "/retrained", 3, 1, 7});
        CHECK(status_of([&] { trainer.start({"planar", scratch, scratch + "/x", 3, 1, 7}); }) == ZP_BUSY);
        std::optional<zplan::Bundle> fresh;
        long plans_meanwhile = 0;
        while (!(fresh = trainer.poll())) {
            planner.plan(planar_frame(5, 5));
            plans_meanwhile++;
        }
        CHECK(plans_meanwhile > 0);
        planner.swap_bundle(std::move(*fresh));
        planner.plan(planar_frame(5, 5));

        auto failing = zplan::Trainer::command("exit 3");
        failing.start({"planar", scratch, scratch + "/failed", 1, 1, 0});
        CHECK(status_of([&] { failing.wait(); }) == ZP_TRAINER);
        CHECK(zplan::last_error_message().find("failed") != std::string::npos);
        CHECK(status_of([&] { zplan::Trainer::reference(scratch + "/nowhere"); }) == ZP_TRAINER);
    }

    observation_planning(argv[5]);

    if (failures) {
        std::fprintf(stderr, "test_zplan_cpp: %d checks failed\n", failures);
        return 1;
    }
    std::printf("test_zplan_cpp: all checks passed\n");
    return 0;
}
