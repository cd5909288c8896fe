// zplan.hpp: header-only C++17 wrapper of zplan.h. Handles become move-only RAII classes, a
// failed call throws zplan::Error (its status and the library's message).
//
// Threads: as in zplan.h. const member functions may run concurrently on one object; the others
// need the caller to serialise calls on that object. Objects may move between threads.
#ifndef ZPLAN_HPP
#define ZPLAN_HPP

#if !defined(__cplusplus) || (defined(_MSVC_LANG) ? _MSVC_LANG : __cplusplus) < 201703L
#error "zplan.hpp needs C++17 or newer (e.g. -std=c++17); C programs include zplan.h instead"
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "zplan.h"

namespace zplan {

// This thread's last error message (empty when no call failed).
inline std::string last_error_message() {
    std::string message(zp_last_error_message(nullptr, 0), '\0');
    if (!message.empty()) zp_last_error_message(message.data(), message.size() + 1);
    return message;
}

// A failed call: the zp_status and the library's message.
class Error : public std::runtime_error {
public:
    Error(zp_status status, const std::string &message)
        : std::runtime_error(std::string(zp_status_str(status)) + ": " + message), status_(status) {}
    zp_status status() const noexcept { return status_; }

private:
    zp_status status_;
};

// Throws Error unless `status` is ZP_OK.
inline void check(zp_status status) {
    if (status != ZP_OK) throw Error(status, last_error_message());
}

// The library's version, "MAJOR.MINOR.PATCH".
inline std::string version() { return zp_version(); }

// Loads ONNX Runtime once per process (see zp_runtime_init); an empty path searches.
inline void init_runtime(const std::string &library_path = {}) {
    check(zp_runtime_init(library_path.empty() ? nullptr : library_path.c_str()));
}

// The loaded ONNX Runtime's version, e.g. "1.31.1"; empty before init_runtime.
inline std::string runtime_version() {
    std::string text(zp_runtime_version(nullptr, 0), '\0');
    if (!text.empty()) zp_runtime_version(text.data(), text.size() + 1);
    return text;
}

// Routes zplan's and ONNX Runtime's messages at min_level and above (ZP_LOG_*) to `callback`
// with `user`; nullptr: standard error (see zp_set_log_callback).
inline void set_log_callback(zp_log_callback callback, void *user,
                             std::uint32_t min_level = ZP_LOG_WARNING) {
    check(zp_set_log_callback(callback, user, min_level));
}

// Threads OpenBLAS splits one large product over (see zp_set_blas_threads; 1 after
// init_runtime).
inline void set_blas_threads(std::size_t threads) { check(zp_set_blas_threads(threads)); }
inline std::size_t blas_threads() { return zp_blas_threads(); }

// The solution of a linear-quadratic problem in arrays of its own (see zp_lq_solution).
struct LqSolution {
    std::vector<double> states;    // x_0..x_T: (T + 1) x n
    std::vector<double> controls;  // u_0..u_{T-1}: T x m
    std::vector<double> gains;     // K_t: T x m x n
    double cost = 0.0;
    std::size_t iterations = 0;
    std::uint32_t solver_status = ZP_SOLVE_UNSOLVED;
};

// Solves `problem` (see zp_lq_problem) into the caller's arrays that `solution` points to.
inline void lq_solve(const zp_lq_problem &problem, zp_lq_solution &solution) {
    check(zp_lq_solve(&problem, &solution));
}
// Solves `problem` into a new LqSolution, gains included.
inline LqSolution lq_solve(const zp_lq_problem &problem) {
    LqSolution out;
    out.states.resize((problem.horizon + 1) * problem.n);
    out.controls.resize(problem.horizon * problem.m);
    out.gains.resize(problem.horizon * problem.m * problem.n);
    zp_lq_solution raw{};
    raw.states = out.states.data();
    raw.controls = out.controls.data();
    raw.gains = out.gains.data();
    lq_solve(problem, raw);
    out.cost = raw.cost;
    out.iterations = raw.iterations;
    out.solver_status = raw.solver_status;
    return out;
}

namespace detail {
template <typename T, void (*Free)(T *)>
struct Deleter {
    void operator()(T *handle) const noexcept { Free(handle); }
};
template <typename T, void (*Free)(T *)>
using Handle = std::unique_ptr<T, Deleter<T, Free>>;
}  // namespace detail

// The default planner settings, a benchmark task's reference settings, or zplan's settings
// for it (the reference plus a terminal weight).
inline zp_planner_settings default_settings() { return zp_planner_settings_default(); }
inline zp_planner_settings reference_settings(const std::string &task) {
    zp_planner_settings settings{};
    check(zp_planner_settings_reference(task.c_str(), &settings));
    return settings;
}
inline zp_planner_settings task_settings(const std::string &task) {
    zp_planner_settings settings{};
    check(zp_planner_settings_for_task(task.c_str(), &settings));
    return settings;
}

// Visual Foresight's observation-space planner settings (CEM, 200 samples, 3 iterations,
// horizon 15), for a Planner over a video bundle.
inline zp_observation_settings observation_settings() { return zp_observation_settings_default(); }

// A designated pixel and where it should go, in pixel coordinates (x to the right, y down).
struct PixelGoal {
    double from_x, from_y;
    double to_x, to_y;
};

// A loaded and checked model bundle: its networks, ready to hand to a Planner (which takes
// them: pass it as an rvalue). Load it on any thread.
class Bundle {
public:
    explicit Bundle(const std::string &dir) : Bundle(dir, zp_bundle_options_default()) {}
    Bundle(const std::string &dir, const zp_bundle_options &options) {
        zp_bundle *raw = nullptr;
        check(zp_bundle_load_with(dir.c_str(), &options, &raw));
        handle_.reset(raw);
    }
    zp_bundle_info info() const {
        zp_bundle_info info{};
        check(zp_bundle_get_info(handle_.get(), &info));
        return info;
    }
    // The action limits of the manifest: (low, high), info().action_dim values each.
    std::pair<std::vector<double>, std::vector<double>> action_bounds() const {
        const std::size_t n = info().action_dim;
        std::vector<double> low(n), high(n);
        check(zp_bundle_get_action_bounds(handle_.get(), low.data(), high.data(), n));
        return {std::move(low), std::move(high)};
    }
    const zp_bundle *get() const noexcept { return handle_.get(); }

    // Runs a C call that may take the bundle (zp_planner_new, zp_planner_swap_bundle) on the
    // handle; the call sets it to NULL when it took it, and this object lets go of it then.
    template <typename Call>
    zp_status hand_over(Call &&call) {
        zp_bundle *raw = handle_.get();
        const zp_status status = call(&raw);
        if (raw == nullptr) (void)handle_.release();
        return status;
    }

private:
    friend class Trainer;
    explicit Bundle(zp_bundle *handle) noexcept : handle_(handle) {}
    detail::Handle<zp_bundle, zp_bundle_free> handle_;
};

// zplan's settings for a benchmark task with the choices a latent bundle records for its own
// model in place of the task's (zp_planner_settings_for_bundle); call it before a Planner
// takes the bundle.
inline zp_planner_settings bundle_settings(const Bundle &bundle, const std::string &task) {
    zp_planner_settings settings{};
    check(zp_planner_settings_for_bundle(bundle.get(), task.c_str(), &settings));
    return settings;
}

// Converts an 8-bit camera image of any size into one frame of a bundle's layout, for
// Planner::plan_frame (or, stacked, Planner::plan). `src` is row-major src_height x src_width x
// src_channels, interleaved (1: grey, 3: RGB); `out` receives channels x height x width,
// planar (1 or 3 channels; `channels` x `height` x `width` bytes). Resampling: each target
// pixel is the mean of the source area it covers, each source pixel weighted by the part of it
// inside (a box filter: exact block means for integer downscaling, the covering pixel for
// upscaling), rounded to the nearest integer. RGB to grey: ITU-R BT.601 luma, 0.299 R +
// 0.587 G + 0.114 B; grey to RGB: the value in all three. Allocates nothing.
inline void convert_frame(const std::uint8_t *src, std::size_t src_width, std::size_t src_height,
                          std::size_t src_channels, std::uint8_t *out, std::size_t width,
                          std::size_t height, std::size_t channels) {
    if ((src_channels != 1 && src_channels != 3) || (channels != 1 && channels != 3))
        throw Error(ZP_INVALID_ARGUMENT, "convert_frame: channels must be 1 (grey) or 3 (RGB)");
    if (src_width == 0 || src_height == 0 || width == 0 || height == 0)
        throw Error(ZP_INVALID_ARGUMENT, "convert_frame: an image without pixels");
    const double sy = double(src_height) / double(height), sx = double(src_width) / double(width);
    // The value of source pixel (r, c) in target channel `k`.
    auto value = [&](std::size_t r, std::size_t c, std::size_t k) {
        const std::uint8_t *p = src + (r * src_width + c) * src_channels;
        if (src_channels == channels) return double(p[k]);
        if (src_channels == 1) return double(p[0]);
        return 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
    };
    for (std::size_t k = 0; k < channels; k++) {
        for (std::size_t ty = 0; ty < height; ty++) {
            const double y0 = ty * sy, y1 = (ty + 1) * sy;
            for (std::size_t tx = 0; tx < width; tx++) {
                const double x0 = tx * sx, x1 = (tx + 1) * sx;
                double sum = 0.0;
                for (std::size_t r = std::size_t(y0); r < src_height && double(r) < y1; r++) {
                    const double wy = std::min(y1, double(r + 1)) - std::max(y0, double(r));
                    for (std::size_t c = std::size_t(x0); c < src_width && double(c) < x1; c++) {
                        const double wx = std::min(x1, double(c + 1)) - std::max(x0, double(c));
                        sum += wy * wx * value(r, c, k);
                    }
                }
                const double mean = sum / (sy * sx);
                out[(k * height + ty) * width + tx] =
                    std::uint8_t(std::min(255.0, std::max(0.0, mean + 0.5)));
            }
        }
    }
}

// As convert_frame into a new frame of `info`'s layout: info.channels channels of
// info.height x info.width.
inline std::vector<std::uint8_t> convert_frame(const std::uint8_t *src, std::size_t src_width,
                                               std::size_t src_height, std::size_t src_channels,
                                               const zp_bundle_info &info) {
    std::vector<std::uint8_t> out(info.channels * info.height * info.width);
    convert_frame(src, src_width, src_height, src_channels, out.data(), info.width, info.height,
                  info.channels);
    return out;
}

// A receding-horizon planner with its own sessions; see zp_planner_*. Over a latent bundle
// it plans toward a goal image (set_goal); over a video bundle, in observation space toward
// designated-pixel goals (set_pixel_goals).
class Planner {
public:
    // Takes the bundle's networks; if it throws before taking them, `bundle` keeps them.
    Planner(Bundle &&bundle, const zp_planner_settings &settings) {
        zp_planner *raw = nullptr;
        check(bundle.hand_over([&](zp_bundle **b) { return zp_planner_new(b, &settings, &raw); }));
        handle_.reset(raw);
        refresh_info();
    }
    // An observation-space planner over a video bundle.
    Planner(Bundle &&bundle, const zp_observation_settings &settings) {
        zp_planner *raw = nullptr;
        check(bundle.hand_over(
            [&](zp_bundle **b) { return zp_planner_new_observation(b, &settings, &raw); }));
        handle_.reset(raw);
        refresh_info();
    }

    const zp_planner_info &info() const noexcept { return info_; }

    void set_goal(const std::uint8_t *image, std::size_t len) {
        check(zp_planner_set_goal(handle_.get(), image, len));
    }
    void set_goal(const std::vector<std::uint8_t> &image) { set_goal(image.data(), image.size()); }
    // As set_goal for an image of floats in [0, 1].
    void set_goal_f32(const float *image, std::size_t len) {
        check(zp_planner_set_goal_f32(handle_.get(), image, len));
    }
    void set_goal_f32(const std::vector<float> &image) { set_goal_f32(image.data(), image.size()); }

    // Observation planners: the designated pixels and their goals.
    void set_pixel_goals(const std::vector<PixelGoal> &goals) {
        std::vector<double> from, to;
        for (const PixelGoal &g : goals) {
            from.insert(from.end(), {g.from_x, g.from_y});
            to.insert(to.end(), {g.to_x, g.to_y});
        }
        check(zp_planner_set_pixel_goal(handle_.get(), goals.size(), from.data(), to.data()));
        refresh_info();
    }
    // Observation planners: the designated pixels re-registered at (x, y) pairs `xy` (as
    // many as goals), for a stack that tracks them itself.
    void set_designated_pixels(const std::vector<double> &xy) {
        if (xy.size() % 2 != 0) throw Error(ZP_SIZE_MISMATCH, "xy: an odd number of coordinates");
        check(zp_planner_set_designated_pixels(handle_.get(), xy.size() / 2, xy.data()));
    }
    // Observation planners: where the designated pixels are now, (x, y) pairs.
    std::vector<double> designated_pixels() const {
        std::vector<double> xy(2 * info_.designated_pixels);
        check(zp_planner_get_designated_pixels(handle_.get(), xy.data(), xy.size()));
        return xy;
    }
    // Observation planners: the last plan's predicted frames, T x C x H x W in [0, 1].
    std::vector<float> predicted_frames() const {
        std::vector<float> frames(info_.horizon * info_.channels * info_.height * info_.width);
        check(zp_planner_get_predicted_frames(handle_.get(), frames.data(), frames.size()));
        return frames;
    }
    // Observation planners: the last plan's predicted designated-pixel maps, T x P x H x W.
    std::vector<float> pixel_maps() const {
        std::vector<float> maps(info_.horizon * info_.designated_pixels * info_.height *
                                info_.width);
        check(zp_planner_get_pixel_maps(handle_.get(), maps.data(), maps.size()));
        return maps;
    }

    // Plans from `obs` and writes the first action to `action` (info().action_dim values);
    // allocates nothing after the first call.
    void plan(const std::uint8_t *obs, std::size_t obs_len, double *action, std::size_t action_len) {
        check(zp_planner_plan(handle_.get(), obs, obs_len, action, action_len));
    }
    void plan(const std::uint8_t *obs, std::size_t obs_len, std::vector<double> &action) {
        action.resize(info_.action_dim);
        plan(obs, obs_len, action.data(), action.size());
    }
    std::vector<double> plan(const std::vector<std::uint8_t> &obs) {
        std::vector<double> action;
        plan(obs.data(), obs.size(), action);
        return action;
    }
    // Plans from the newest camera frame alone (C x H x W, info().observation_len / frames
    // bytes); the planner stacks the frames the bundle takes (see zp_planner_plan_frame).
    void plan_frame(const std::uint8_t *frame, std::size_t len, double *action,
                    std::size_t action_len) {
        check(zp_planner_plan_frame(handle_.get(), frame, len, action, action_len));
    }
    std::vector<double> plan_frame(const std::vector<std::uint8_t> &frame) {
        std::vector<double> action(info_.action_dim);
        plan_frame(frame.data(), frame.size(), action.data(), action.size());
        return action;
    }
    // Sets the goal from one goal frame, repeated for every stacked frame.
    void set_goal_frame(const std::uint8_t *frame, std::size_t len) {
        check(zp_planner_set_goal_frame(handle_.get(), frame, len));
    }
    void set_goal_frame(const std::vector<std::uint8_t> &frame) {
        set_goal_frame(frame.data(), frame.size());
    }
    void plan_f32(const float *obs, std::size_t obs_len, double *action, std::size_t action_len) {
        check(zp_planner_plan_f32(handle_.get(), obs, obs_len, action, action_len));
    }

    // Replaces the networks with `bundle`'s (loaded beforehand, e.g. on another thread: the
    // swap reads no file; a bundle of the planner's own kind, latent or video); on an error
    // the planner keeps the ones it had.
    void swap_bundle(Bundle &&bundle) {
        check(bundle.hand_over([&](zp_bundle **b) { return zp_planner_swap_bundle(handle_.get(), b); }));
    }

    void reset() { check(zp_planner_reset(handle_.get())); }
    void shift() { check(zp_planner_shift(handle_.get())); }
    // Latent planners: the deadline of the next plans in seconds (0: none); see
    // zp_planner_settings.deadline.
    void set_deadline(double seconds) { check(zp_planner_set_deadline(handle_.get(), seconds)); }

    zp_plan_info plan_info() const {
        zp_plan_info info{};
        check(zp_planner_get_plan_info(handle_.get(), &info));
        return info;
    }
    // Latent states of the last plan, (T + 1) x n row-major; the overload with a pointer
    // writes them into caller storage of `len` = (T + 1) n values and allocates nothing.
    void planned_states(double *states, std::size_t len) const {
        check(zp_planner_get_plan(handle_.get(), states, len, nullptr, 0));
    }
    std::vector<double> planned_states() const {
        std::vector<double> states((info_.horizon + 1) * info_.latent_dim);
        planned_states(states.data(), states.size());
        return states;
    }
    // Actions of the last plan, T x m row-major (into caller storage of T m values, or new).
    void planned_actions(double *actions, std::size_t len) const {
        check(zp_planner_get_plan(handle_.get(), nullptr, 0, actions, len));
    }
    std::vector<double> planned_actions() const {
        std::vector<double> actions(info_.horizon * info_.action_dim);
        planned_actions(actions.data(), actions.size());
        return actions;
    }
    // Feedback gains of the last plan, T x m x n row-major (into caller storage, or new).
    void gains(double *gains, std::size_t len) const {
        check(zp_planner_get_gains(handle_.get(), gains, len));
    }
    std::vector<double> gains() const {
        std::vector<double> gains(info_.horizon * info_.action_dim * info_.latent_dim);
        this->gains(gains.data(), gains.size());
        return gains;
    }
    std::pair<std::vector<double>, std::vector<double>> action_bounds() const {
        std::vector<double> low(info_.action_dim), high(info_.action_dim);
        check(zp_planner_get_action_bounds(handle_.get(), low.data(), high.data(), low.size()));
        return {low, high};
    }

    zp_planner *get() noexcept { return handle_.get(); }
    const zp_planner *get() const noexcept { return handle_.get(); }

private:
    void refresh_info() { check(zp_planner_get_info(handle_.get(), &info_)); }
    detail::Handle<zp_planner, zp_planner_free> handle_;
    zp_planner_info info_{};
};

// A transition buffer on disk. The destructor commits (errors ignored); call close() to see
// them, or discard() to drop the rows appended since the last commit.
class Buffer {
public:
    static Buffer create(const std::string &dir, const std::vector<std::size_t> &obs_shape,
                         std::size_t action_dim) {
        zp_buffer *raw = nullptr;
        check(zp_buffer_create(dir.c_str(), obs_shape.data(), obs_shape.size(), action_dim, &raw));
        return Buffer(raw);
    }
    static Buffer open(const std::string &dir) {
        zp_buffer *raw = nullptr;
        check(zp_buffer_open(dir.c_str(), &raw));
        return Buffer(raw);
    }
    Buffer(Buffer &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Buffer &operator=(Buffer &&other) noexcept {
        if (this != &other) {
            if (handle_) zp_buffer_close(handle_);
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }
    Buffer(const Buffer &) = delete;
    Buffer &operator=(const Buffer &) = delete;
    ~Buffer() {
        if (handle_) zp_buffer_close(handle_);
    }

    void append(const std::uint8_t *obs, const std::uint8_t *next_obs, std::size_t obs_len,
                const float *action, std::size_t action_len, float reward, bool done) {
        check(zp_buffer_append(handle_, obs, next_obs, obs_len, action, action_len, reward, done));
    }
    void commit() { check(zp_buffer_commit(handle_)); }
    // (appended, committed) transitions.
    std::pair<std::size_t, std::size_t> transitions() const {
        std::size_t appended = 0, committed = 0;
        check(zp_buffer_transitions(handle_, &appended, &committed));
        return {appended, committed};
    }
    // Commits and closes; throws when the commit fails (the buffer is closed either way).
    void close() { check(zp_buffer_close(std::exchange(handle_, nullptr))); }
    // Closes without committing.
    void discard() noexcept { zp_buffer_free(std::exchange(handle_, nullptr)); }

private:
    explicit Buffer(zp_buffer *handle) noexcept : handle_(handle) {}
    zp_buffer *handle_;
};

// One training run; the trainer reads it from ZPLAN_TASK, ZPLAN_DATA, ZPLAN_OUT, ZPLAN_EPOCHS,
// ZPLAN_HORIZON and ZPLAN_SEED.
struct TrainJob {
    std::string task;
    std::string data_dir;
    std::string out_dir;
    std::uint32_t epochs = 30;
    std::uint32_t horizon = 1;
    std::uint64_t seed = 0;
};

// A trainer with at most one job on its worker thread (see zp_trainer). The control loop
// starts a job, keeps planning, and polls; a finished job gives a loaded, checked Bundle to
// hand to Planner::swap_bundle. The destructor waits for a running job.
class Trainer {
public:
    // Runs `sh -c shell_command` with the job in its environment.
    static Trainer command(const std::string &shell_command) {
        zp_trainer *raw = nullptr;
        check(zp_trainer_new_command(shell_command.c_str(), &raw));
        return Trainer(raw);
    }
    // The project's PyTorch trainer in `training_dir`; `python` empty: training_dir/../.venv.
    static Trainer reference(const std::string &training_dir, std::uint32_t model = ZP_MODEL_PC3,
                             const std::string &python = {}) {
        zp_trainer *raw = nullptr;
        check(zp_trainer_new_reference(training_dir.c_str(), python.empty() ? nullptr : python.c_str(),
                                       model, &raw));
        return Trainer(raw);
    }

    void start(const TrainJob &job) {
        const zp_train_job c_job{job.task.c_str(), job.data_dir.c_str(), job.out_dir.c_str(),
                                 job.epochs, job.horizon, job.seed};
        check(zp_trainer_start(handle_.get(), &c_job));
    }
    // The new bundle once the job has finished; empty while it runs. Throws the job's error.
    std::optional<Bundle> poll() {
        zp_bundle *raw = nullptr;
        const zp_status status = zp_trainer_poll(handle_.get(), &raw);
        if (status == ZP_PENDING) return std::nullopt;
        check(status);
        return Bundle(raw);
    }
    // Blocks until the job has finished (never on the control thread).
    Bundle wait() {
        zp_bundle *raw = nullptr;
        check(zp_trainer_wait(handle_.get(), &raw));
        return Bundle(raw);
    }

private:
    explicit Trainer(zp_trainer *handle) noexcept : handle_(handle) {}
    detail::Handle<zp_trainer, zp_trainer_free> handle_;
};

}  // namespace zplan

#endif  // ZPLAN_HPP
