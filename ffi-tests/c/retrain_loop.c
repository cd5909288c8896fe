/*
 * A robot's control loop that retrains: plan from the camera while a trainer runs on the
 * library's worker thread, poll for the new bundle, swap it into the running planner. Then the
 * failures a robot stack must see in words: a trainer that fails, a trainer that writes a
 * bundle zplan refuses, a second job while one runs, NULL arguments. Run by
 * crates/zplan-ffi/tests/trainer.rs.
 *
 * usage: retrain_loop ORT_LIBRARY PLANAR_BUNDLE SCRATCH_DIR
 * Prints "retrain_loop: all checks passed" on success.
 */
#define _POSIX_C_SOURCE 200809L

#include "zplan.h"

#include <stdio.h>
#include <string.h>

#include "check.h"

int main(int argc, char **argv) {
    zp_bundle *bundle = NULL, *fresh = NULL;
    zp_planner *planner = NULL;
    zp_trainer *trainer = NULL, *failing = NULL, *refused = NULL, *reference = NULL;
    zp_planner_settings settings;
    zp_train_job job;
    unsigned char image[40 * 40];
    double action[2];
    char command[2048], out_dir[1024], other_dir[1024];
    long plans_meanwhile = 0;
    zp_status status;
    if (argc != 4) {
        fprintf(stderr, "usage: retrain_loop ORT_LIBRARY PLANAR_BUNDLE SCRATCH_DIR\n");
        return 2;
    }
    CHECK(zp_runtime_init(argv[1]) == ZP_OK);
    CHECK(zp_bundle_load(argv[2], &bundle) == ZP_OK);
    CHECK(zp_planner_settings_for_task("planar", &settings) == ZP_OK);
    CHECK(zp_planner_new(&bundle, &settings, &planner) == ZP_OK);
    planar_frame(image, 36, 36);
    CHECK(zp_planner_set_goal(planner, image, sizeof image) == ZP_OK);
    planar_frame(image, 5, 5);

    /* The trainer: checks that it got the job in its environment, takes a moment, and writes a
     * bundle (a copy of the shipped one). */
    snprintf(command, sizeof command,
             "test \"$ZPLAN_TASK\" = planar && test \"$ZPLAN_EPOCHS\" = 3 && "
             "test \"$ZPLAN_HORIZON\" = 2 && test \"$ZPLAN_SEED\" = 11 && "
             "test \"$ZPLAN_DATA\" = '%s' && sleep 0.3 && cp -R '%s/.' \"$ZPLAN_OUT\"",
             argv[3], argv[2]);
    snprintf(out_dir, sizeof out_dir, "%s/retrained", argv[3]);
    snprintf(other_dir, sizeof other_dir, "%s/other", argv[3]);
    CHECK(zp_trainer_new_command(command, &trainer) == ZP_OK);
    job.task = "planar";
    job.data_dir = argv[3];
    job.out_dir = out_dir;
    job.epochs = 3;
    job.horizon = 2;
    job.seed = 11;

    CHECK(zp_trainer_poll(trainer, &fresh) == ZP_INVALID_ARGUMENT); /* no job yet */
    CHECK(zp_trainer_start(trainer, &job) == ZP_OK);
    job.out_dir = other_dir;
    CHECK(zp_trainer_start(trainer, &job) == ZP_BUSY);
    job.out_dir = out_dir;
    /* The control loop keeps planning while the job runs. */
    while ((status = zp_trainer_poll(trainer, &fresh)) == ZP_PENDING) {
        CHECK(fresh == NULL);
        CHECK(zp_planner_plan(planner, image, sizeof image, action, 2) == ZP_OK);
        plans_meanwhile++;
    }
    CHECK(status == ZP_OK);
    CHECK(fresh != NULL);
    CHECK(plans_meanwhile > 0);
    CHECK(zp_planner_swap_bundle(planner, &fresh) == ZP_OK);
    CHECK(fresh == NULL);
    CHECK(zp_planner_plan(planner, image, sizeof image, action, 2) == ZP_OK);
    /* Collected: the trainer takes the next job. */
    CHECK(zp_trainer_start(trainer, &job) == ZP_OK);
    CHECK(zp_trainer_wait(trainer, &fresh) == ZP_OK);
    zp_bundle_free(fresh);
    fresh = NULL;

    /* A trainer that fails: the job's error, the bundle untouched. */
    CHECK(zp_trainer_new_command("echo training broke >&2; exit 3", &failing) == ZP_OK);
    CHECK(zp_trainer_start(failing, &job) == ZP_OK);
    CHECK(zp_trainer_wait(failing, &fresh) == ZP_TRAINER);
    CHECK(fresh == NULL);
    CHECK(last_error_mentions("trainer failed"));

    /* A trainer that writes a bundle zplan refuses. */
    CHECK(zp_trainer_new_command("mkdir -p \"$ZPLAN_OUT\" && echo '{}' > \"$ZPLAN_OUT/zplan.json\"",
                                 &refused) == ZP_OK);
    snprintf(out_dir, sizeof out_dir, "%s/refused", argv[3]);
    CHECK(zp_trainer_start(refused, &job) == ZP_OK);
    CHECK(zp_trainer_wait(refused, &fresh) == ZP_BUNDLE);
    CHECK(fresh == NULL);
    CHECK(last_error_mentions("refuses"));

    /* The reference trainer where there is none. */
    CHECK(zp_trainer_new_reference(argv[3], NULL, ZP_MODEL_PC3, &reference) == ZP_TRAINER);
    CHECK(last_error_mentions("zplan_train"));
    CHECK(zp_trainer_new_reference(argv[3], NULL, 99, &reference) == ZP_INVALID_ARGUMENT);
    CHECK(reference == NULL);

    /* NULL arguments. */
    CHECK(zp_trainer_new_command(NULL, &reference) == ZP_NULL_POINTER);
    CHECK(zp_trainer_new_command("true", NULL) == ZP_NULL_POINTER);
    CHECK(zp_trainer_start(NULL, &job) == ZP_NULL_POINTER);
    CHECK(zp_trainer_start(trainer, NULL) == ZP_NULL_POINTER);
    CHECK(zp_trainer_poll(trainer, NULL) == ZP_NULL_POINTER);
    job.task = NULL;
    CHECK(zp_trainer_start(trainer, &job) == ZP_NULL_POINTER);
    job.task = "planar";
    job.epochs = 0;
    CHECK(zp_trainer_start(trainer, &job) == ZP_INVALID_ARGUMENT);
    job.epochs = 3;

    /* Freeing a trainer with a job running waits for it. */
    CHECK(zp_trainer_start(trainer, &job) == ZP_OK);
    zp_trainer_free(trainer);
    zp_trainer_free(failing);
    zp_trainer_free(refused);
    zp_trainer_free(NULL);
    zp_planner_free(planner);

    if (failures) {
        fprintf(stderr, "retrain_loop: %d checks failed\n", failures);
        return 1;
    }
    printf("retrain_loop: all checks passed\n");
    return 0;
}
