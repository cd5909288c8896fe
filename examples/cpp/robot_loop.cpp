// The loop a robot stack writes around zplan: load a bundle, set a goal image, then for every
// camera frame plan, apply the action, and record the transition for retraining.
//
// The "robot" here is the planar benchmark task (a 2x2 agent among six round obstacles in a
// 40x40 image, moved by its action, up to 3 px per axis and step), simulated in a few lines so
// that the example runs anywhere.
//
// usage: robot_loop BUNDLE_DIR BUFFER_DIR [ONNX_RUNTIME_LIBRARY]
#include <zplan.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#ifndef ZPLAN_ORT_LIBRARY
#define ZPLAN_ORT_LIBRARY ""
#endif

namespace {

constexpr int kSize = 40;
constexpr double kObstacles[6][2] = {{20.5, 5.5},  {20.5, 13.5}, {20.5, 27.5},
                                     {20.5, 35.5}, {10.5, 20.5}, {30.5, 20.5}};

struct PlanarRobot {
    double row = 5.0, col = 5.0;

    // The camera: obstacles as discs of radius 2, the agent as a 2x2 block.
    std::vector<std::uint8_t> camera() const { return render(row, col); }

    static std::vector<std::uint8_t> render(double row, double col) {
        std::vector<std::uint8_t> image(kSize * kSize, 0);
        for (const auto &o : kObstacles) {
            const int cy = static_cast<int>(o[0]), cx = static_cast<int>(o[1]);
            for (int y = cy - 2; y <= cy + 2; y++)
                for (int x = cx - 2; x <= cx + 2; x++)
                    if ((y - cy) * (y - cy) + (x - cx) * (x - cx) <= 4) image[y * kSize + x] = 255;
        }
        const int r = static_cast<int>(std::nearbyint(row)), c = static_cast<int>(std::nearbyint(col));
        for (int y = std::max(r - 1, 0); y < r + 1; y++)
            for (int x = std::max(c - 1, 0); x < c + 1; x++) image[y * kSize + x] = 255;
        return image;
    }

    // Moves by the action, clipped to +-3 px and the field; blocked by obstacles.
    void apply(const std::vector<double> &action) {
        const double r = std::clamp(row + std::clamp(action[0], -3.0, 3.0), 1.5, 38.5);
        const double c = std::clamp(col + std::clamp(action[1], -3.0, 3.0), 1.5, 38.5);
        for (const auto &o : kObstacles)
            if (std::fabs(r - o[0]) <= 1.5 && std::fabs(c - o[1]) <= 1.5) return;
        row = r;
        col = c;
    }
};

}  // namespace

int main(int argc, char **argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s BUNDLE_DIR BUFFER_DIR [ONNX_RUNTIME_LIBRARY]\n", argv[0]);
        return 2;
    }
    const std::string bundle_dir = argv[1], buffer_dir = argv[2];
    const std::string ort = argc > 3 ? argv[3] : ZPLAN_ORT_LIBRARY;
    const double goal_row = 37.0, goal_col = 37.0;
    try {
        zplan::init_runtime(ort);
        zplan::Bundle bundle(bundle_dir);
        const zp_bundle_info info = bundle.info();
        // zplan's settings for the task, with the choices the bundle records for its model.
        const zp_planner_settings settings = zplan::bundle_settings(bundle, "planar");
        zplan::Planner planner(std::move(bundle), settings);
        planner.set_goal(PlanarRobot::render(goal_row, goal_col));

        auto buffer = zplan::Buffer::create(buffer_dir, {info.frames * info.channels, info.height, info.width},
                                            info.action_dim);
        PlanarRobot robot;
        const double start = std::hypot(robot.row - goal_row, robot.col - goal_col);
        std::vector<double> action(info.action_dim);
        std::vector<float> recorded(info.action_dim);
        auto frame = robot.camera();
        for (int step = 0; step < 20; step++) {
            planner.plan(frame.data(), frame.size(), action);
            robot.apply(action);
            const auto next = robot.camera();
            const double distance = std::hypot(robot.row - goal_row, robot.col - goal_col);
            std::transform(action.begin(), action.end(), recorded.begin(),
                           [](double a) { return static_cast<float>(a); });
            buffer.append(frame.data(), next.data(), frame.size(), recorded.data(), recorded.size(),
                          static_cast<float>(-distance), step == 19);
            frame = next;
        }
        const auto transitions = buffer.transitions().first;
        buffer.close();
        const double end = std::hypot(robot.row - goal_row, robot.col - goal_col);
        std::printf("robot_loop: distance to the goal %.1f -> %.1f px in 20 steps; "
                    "%zu transitions recorded in %s\n",
                    start, end, transitions, buffer_dir.c_str());
    } catch (const zplan::Error &e) {
        std::fprintf(stderr, "robot_loop: %s\n", e.what());
        return 1;
    }
    return 0;
}
