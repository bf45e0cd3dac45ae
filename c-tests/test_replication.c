/* Replication groups through the C API: sync, read-only replicas, borrowed
 * nodes (stop/restart, never free), promotion, added replicas, a replica
 * config of its own, NULL and range checks, and cleanup on free. */
#include "check.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Freed at exit, so a failed check (which exits) leaves no servers behind. */
static vtf_replication *group_to_free;

static void free_group_at_exit(void) {
  vtf_replication_free(group_to_free);
  group_to_free = NULL;
}

static vtf_replication *create_group(const vtf_config *primary, const vtf_config *replica,
                                     size_t replicas) {
  vtf_replication *group = NULL;
  double started = check_now_ms();
  if (replica == NULL) {
    CHECK_OK(vtf_replication_create(primary, replicas, &group));
  } else {
    CHECK_OK(vtf_replication_create_with(primary, replica, replicas, &group));
  }
  CHECK(group != NULL);
  printf("group of 1 + %zu ready in %.0f ms\n", replicas, check_now_ms() - started);
  group_to_free = group;
  return group;
}

static void free_group(vtf_replication *group) {
  vtf_replication_free(group);
  group_to_free = NULL;
}

static void set_on(vtf_server *server, const char *key, const char *value) {
  char command[256];
  snprintf(command, sizeof command, "SET %s %s", key, value);
  vtf_client *client = check_connect(server);
  check_cmd_str(client, command, "OK");
  vtf_client_free(client);
}

static void expect_on(vtf_server *server, const char *key, const char *want) {
  char command[256];
  snprintf(command, sizeof command, "GET %s", key);
  vtf_client *client = check_connect(server);
  check_cmd_str(client, command, want);
  vtf_client_free(client);
}

static char *info_field(vtf_server *server, const char *field) {
  char *value = NULL;
  CHECK_OK(vtf_server_info_field(server, "replication", field, &value));
  CHECK_MSG(value != NULL, "INFO replication has no %s", field);
  return value;
}

static void expect_role(vtf_server *server, const char *role) {
  char *value = info_field(server, "role");
  CHECK_STR_EQ(value, role);
  vtf_string_free(value);
}

static void test_sync_and_read_only_replicas(void) {
  vtf_config *config = vtf_config_new();
  vtf_replication *group = create_group(config, NULL, 2);
  vtf_config_free(config);

  CHECK_INT_EQ(vtf_replication_replica_count(group), 2);
  vtf_server *primary = vtf_replication_primary(group);
  CHECK(primary != NULL);
  expect_role(primary, "master");
  for (size_t i = 0; i < 2; i++) {
    vtf_server *replica = vtf_replication_replica(group, i);
    CHECK(replica != NULL);
    expect_role(replica, "slave");
  }
  CHECK(vtf_replication_replica(group, 2) == NULL);
  CHECK_CONTAINS(vtf_last_error(), "out of range");

  /* Nodes belong to the group: freeing one is refused and it keeps running. */
  vtf_server *replica0 = vtf_replication_replica(group, 0);
  vtf_server_free(replica0);
  CHECK_CONTAINS(vtf_last_error(), "free the group instead");
  CHECK(vtf_server_is_running(replica0));

  set_on(primary, "greeting", "hello");
  CHECK_OK(vtf_replication_wait_sync(group, 10000));
  for (size_t i = 0; i < 2; i++) {
    vtf_server *replica = vtf_replication_replica(group, i);
    expect_on(replica, "greeting", "hello");
    vtf_client *client = check_connect(replica);
    vtf_reply *reply = check_cmd(client, "SET mine x");
    CHECK_INT_EQ(vtf_reply_get_type(reply), VTF_REPLY_ERROR);
    CHECK_CONTAINS(vtf_reply_string(reply, NULL), "READONLY");
    vtf_reply_free(reply);
    vtf_client_free(client);
  }

  /* A stopped replica is skipped by wait_sync and catches up after a restart. */
  CHECK_OK(vtf_server_stop(replica0));
  set_on(primary, "while-stopped", "yes");
  CHECK_OK(vtf_replication_wait_sync(group, 10000));
  CHECK_OK(vtf_server_restart(replica0, true));
  CHECK_OK(vtf_replication_wait_sync(group, 10000));
  expect_on(replica0, "while-stopped", "yes");
  expect_on(replica0, "greeting", "hello");

  /* Promotion: replica 1 and the primary swap places. */
  vtf_server *old_primary = primary;
  vtf_server *promoted = vtf_replication_replica(group, 1);
  CHECK_OK(vtf_replication_promote(group, 1));
  CHECK(vtf_replication_primary(group) == promoted);
  CHECK(vtf_replication_replica(group, 1) == old_primary);
  CHECK(vtf_replication_replica(group, 0) == replica0);
  expect_role(promoted, "master");
  set_on(promoted, "after-promotion", "1");
  CHECK_OK(vtf_replication_wait_sync(group, 10000));
  expect_role(old_primary, "slave");
  expect_on(old_primary, "after-promotion", "1");
  expect_on(replica0, "after-promotion", "1");
  CHECK_STATUS(vtf_replication_promote(group, 5), VTF_ERR_INVALID_ARGUMENT);

  /* One more replica, in sync when the call returns. */
  size_t index = 99;
  CHECK_OK(vtf_replication_add_replica(group, &index));
  CHECK_INT_EQ(index, 2);
  CHECK_INT_EQ(vtf_replication_replica_count(group), 3);
  expect_on(vtf_replication_replica(group, 2), "after-promotion", "1");
  /* Handles lent before the group grew are still the same nodes, and work. */
  CHECK(vtf_replication_primary(group) == promoted);
  CHECK(vtf_replication_replica(group, 0) == replica0);
  CHECK(vtf_replication_replica(group, 1) == old_primary);
  expect_on(old_primary, "after-promotion", "1");
  expect_role(promoted, "master");

  /* Freeing the group stops every process and removes every directory. */
  int32_t pids[4];
  char dirs[4][512];
  for (size_t i = 0; i < 4; i++) {
    vtf_server *node = i == 0 ? vtf_replication_primary(group) : vtf_replication_replica(group, i - 1);
    pids[i] = vtf_server_pid(node);
    CHECK(pids[i] > 0);
    snprintf(dirs[i], sizeof dirs[i], "%s", vtf_server_dir(node));
  }
  free_group(group);
  for (size_t i = 0; i < 4; i++) {
    CHECK_MSG(kill(pids[i], 0) == -1 && errno == ESRCH, "process %d survived the group",
              (int)pids[i]);
    struct stat st;
    CHECK_MSG(stat(dirs[i], &st) == -1 && errno == ENOENT, "directory %s survived the group",
              dirs[i]);
  }
}

static void test_create_with_replica_config(void) {
  vtf_config *primary_config = vtf_config_new();
  vtf_config *replica_config = vtf_config_new();
  CHECK_OK(vtf_config_add_arg(replica_config, "hz", "12"));
  CHECK_OK(vtf_config_add_arg(primary_config, "repl-diskless-sync", "no"));
  vtf_replication *group = create_group(primary_config, replica_config, 1);
  vtf_config_free(primary_config);
  vtf_config_free(replica_config);

  vtf_client *client = check_connect(vtf_replication_replica(group, 0));
  vtf_reply *reply = check_cmd(client, "CONFIG GET hz");
  CHECK_INT_EQ(vtf_reply_len(reply), 2);
  CHECK_STR_EQ(vtf_reply_string(vtf_reply_element(reply, 1), NULL), "12");
  vtf_reply_free(reply);
  vtf_client_free(client);

  set_on(vtf_replication_primary(group), "disk", "based");
  CHECK_OK(vtf_replication_wait_sync(group, 10000));
  expect_on(vtf_replication_replica(group, 0), "disk", "based");
  free_group(group);
}

static void test_null_arguments(void) {
  vtf_config *config = vtf_config_new();
  vtf_replication *group = NULL;
  CHECK_STATUS(vtf_replication_create(NULL, 1, &group), VTF_ERR_NULL_ARGUMENT);
  CHECK_STATUS(vtf_replication_create(config, 1, NULL), VTF_ERR_NULL_ARGUMENT);
  CHECK_STATUS(vtf_replication_create_with(config, NULL, 1, &group), VTF_ERR_NULL_ARGUMENT);
  CHECK_STATUS(vtf_replication_create_with(NULL, config, 1, &group), VTF_ERR_NULL_ARGUMENT);
  CHECK(group == NULL); /* out-parameters are written only on success */
  CHECK(vtf_replication_primary(NULL) == NULL);
  CHECK(vtf_replication_replica(NULL, 0) == NULL);
  CHECK_INT_EQ(vtf_replication_replica_count(NULL), 0);
  CHECK_STATUS(vtf_replication_wait_sync(NULL, 10), VTF_ERR_NULL_ARGUMENT);
  CHECK_STATUS(vtf_replication_promote(NULL, 0), VTF_ERR_NULL_ARGUMENT);
  size_t index = 0;
  CHECK_STATUS(vtf_replication_add_replica(NULL, &index), VTF_ERR_NULL_ARGUMENT);
  vtf_replication_free(NULL);
  vtf_config_free(config);
}

int main(void) {
  atexit(free_group_at_exit);
  test_null_arguments();
  test_sync_and_read_only_replicas();
  test_create_with_replica_config();
  CHECK_DONE("test_replication");
}
