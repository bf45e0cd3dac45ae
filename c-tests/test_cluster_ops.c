/* Changing a running cluster from C, as issue 16 asks: 200 keys, a slot
 * range moved to another shard with its keys, a shard with a replica added,
 * a range moved to it, the shard removed: every key still readable through
 * the cluster client, the shard count back to 3, the cluster ok; node
 * indices that stay never change; nonsense arguments refused. */
#include "check.h"

#include <errno.h>
#include <signal.h>
#include <sys/types.h>

#define KEYS 200

static vtf_reply *run(vtf_client *client, const char *command) {
  vtf_reply *reply = NULL;
  CHECK_MSG(vtf_client_command_str(client, command, &reply) == VTF_OK, "%s", command);
  CHECK_MSG(vtf_reply_get_type(reply) != VTF_REPLY_ERROR, "%s replied %s", command,
            vtf_reply_string(reply, NULL));
  return reply;
}

static long long run_int(vtf_client *client, const char *command) {
  vtf_reply *reply = run(client, command);
  CHECK_MSG(vtf_reply_get_type(reply) == VTF_REPLY_INTEGER, "%s: no integer", command);
  long long value = vtf_reply_integer(reply);
  vtf_reply_free(reply);
  return value;
}

static long long node_int(vtf_server *node, const char *command) {
  vtf_client *client = check_connect(node);
  long long value = run_int(client, command);
  vtf_client_free(client);
  return value;
}

/* Every one of the KEYS keys reads back its value through a new cluster client. */
static void check_every_key(vtf_cluster *cluster, const char *when) {
  vtf_client *client = NULL;
  CHECK_OK(vtf_cluster_connect(cluster, &client));
  char command[64], value[32];
  for (int i = 0; i < KEYS; i++) {
    snprintf(command, sizeof command, "GET key:%d", i);
    snprintf(value, sizeof value, "value:%d", i);
    vtf_reply *reply = run(client, command);
    const char *got = vtf_reply_string(reply, NULL);
    CHECK_MSG(got != NULL && strcmp(got, value) == 0, "%s: %s gave %s", when, command,
              got ? got : "(nil)");
    vtf_reply_free(reply);
  }
  vtf_client_free(client);
}

/* Each listed node: cluster_state:ok and exactly `known` nodes known. */
static void check_cluster_ok(vtf_cluster *cluster, const size_t *indices, size_t count,
                             const char *known) {
  for (size_t i = 0; i < count; i++) {
    vtf_client *client = check_connect(vtf_cluster_node(cluster, indices[i]));
    vtf_reply *info = run(client, "CLUSTER INFO");
    const char *text = vtf_reply_string(info, NULL);
    CHECK_CONTAINS(text, "cluster_state:ok");
    CHECK_CONTAINS(text, known);
    vtf_reply_free(info);
    vtf_client_free(client);
  }
}

int main(void) {
  vtf_config *config = vtf_config_new();
  CHECK_OK(vtf_config_set_tls(config, VTF_TLS_OFF));
  vtf_cluster *cluster = NULL;
  CHECK_OK(vtf_cluster_create(config, 3, 0, &cluster));
  vtf_config_free(config);
  CHECK_INT_EQ(vtf_cluster_shard_count(cluster), 3);
  uint16_t ports[3];
  for (size_t i = 0; i < 3; i++) ports[i] = vtf_server_port(vtf_cluster_node(cluster, i));

  vtf_client *client = NULL;
  CHECK_OK(vtf_cluster_connect(cluster, &client));
  char command[64];
  for (int i = 0; i < KEYS; i++) {
    snprintf(command, sizeof command, "SET key:%d value:%d", i, i);
    vtf_reply_free(run(client, command));
  }

  /* Shard 0's first 2000 slots, keys and all, to shard 1. */
  long long on_node0 = node_int(vtf_cluster_node(cluster, 0), "DBSIZE");
  long long on_node1 = node_int(vtf_cluster_node(cluster, 1), "DBSIZE");
  long long in_range = 0;
  for (uint16_t slot = 0; slot < 2000; slot++) {
    snprintf(command, sizeof command, "CLUSTER COUNTKEYSINSLOT %u", (unsigned)slot);
    in_range += node_int(vtf_cluster_node(cluster, 0), command);
  }
  CHECK_MSG(in_range > 0, "no key in slots 0-1999 (of %lld on node 0)", on_node0);
  CHECK_OK(vtf_cluster_move_slots(cluster, 0, 1999, 1));
  CHECK_INT_EQ(node_int(vtf_cluster_node(cluster, 0), "DBSIZE"), on_node0 - in_range);
  CHECK_INT_EQ(node_int(vtf_cluster_node(cluster, 1), "DBSIZE"), on_node1 + in_range);
  check_every_key(cluster, "after moving slots 0-1999 to shard 1");

  /* A borrowed handle taken now stays right while the cluster grows. */
  vtf_server *node0 = vtf_cluster_node(cluster, 0);

  /* A new shard with one replica: nodes 3 (primary) and 4, empty. */
  size_t shard = 99;
  CHECK_OK(vtf_cluster_add_shard(cluster, 1, &shard));
  CHECK_INT_EQ(shard, 3);
  CHECK_INT_EQ(vtf_cluster_shard_count(cluster), 4);
  CHECK_INT_EQ(vtf_cluster_node_count(cluster), 5);
  vtf_server *added = vtf_cluster_node(cluster, 3);
  vtf_server *added_replica = vtf_cluster_node(cluster, 4);
  CHECK(added != NULL && added_replica != NULL);
  CHECK_INT_EQ(node_int(added, "DBSIZE"), 0);
  vtf_client *replica_client = check_connect(added_replica);
  vtf_reply *role = run(replica_client, "ROLE");
  CHECK_STR_EQ(vtf_reply_string(vtf_reply_element(role, 0), NULL), "slave");
  CHECK_INT_EQ(vtf_reply_integer(vtf_reply_element(role, 2)), vtf_server_port(added));
  vtf_reply_free(role);
  vtf_client_free(replica_client);
  CHECK(vtf_cluster_node(cluster, 0) == node0);
  CHECK_INT_EQ(vtf_server_port(node0), ports[0]);
  int32_t removed_pids[2] = {vtf_server_pid(added), vtf_server_pid(added_replica)};

  /* A range with keys (that of key:7) to the new shard. */
  snprintf(command, sizeof command, "CLUSTER KEYSLOT key:7");
  long long slot7 = run_int(client, command);
  uint16_t first = (uint16_t)(slot7 - slot7 % 512), last = (uint16_t)(first + 511);
  CHECK_OK(vtf_cluster_move_slots(cluster, first, last, 3));
  CHECK_MSG(node_int(added, "DBSIZE") > 0, "slots %u-%u brought no key to shard 3",
            (unsigned)first, (unsigned)last);
  check_every_key(cluster, "after moving a range to the added shard");
  const size_t all[] = {0, 1, 2, 3, 4};
  check_cluster_ok(cluster, all, 5, "cluster_known_nodes:5");

  /* Nonsense is refused, and changes nothing. */
  CHECK_STATUS(vtf_cluster_move_slots(cluster, 10, 5, 1), VTF_ERR_INVALID_ARGUMENT);
  CHECK_CONTAINS(vtf_last_error(), "vtf_cluster_move_slots");
  CHECK_STATUS(vtf_cluster_move_slots(cluster, 0, 20000, 1), VTF_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(vtf_cluster_move_slots(cluster, 0, 10, 42), VTF_ERR_INVALID_ARGUMENT);
  CHECK_CONTAINS(vtf_last_error(), "shard 42");
  CHECK_STATUS(vtf_cluster_remove_shard(cluster, 42), VTF_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(vtf_cluster_add_shard(cluster, 1, NULL), VTF_ERR_NULL_ARGUMENT);
  CHECK_STATUS(vtf_cluster_add_shard(cluster, 100000, &shard), VTF_ERR_INVALID_ARGUMENT);
  CHECK_INT_EQ(shard, 3);
  CHECK_INT_EQ(vtf_cluster_shard_count(cluster), 4);

  /* Removing shard 3: its slots and keys go back, its nodes stop. */
  CHECK_OK(vtf_cluster_remove_shard(cluster, 3));
  CHECK_INT_EQ(vtf_cluster_shard_count(cluster), 3);
  CHECK_INT_EQ(vtf_cluster_node_count(cluster), 5); /* indices are never reused */
  CHECK(vtf_cluster_node(cluster, 3) == NULL);
  CHECK_CONTAINS(vtf_last_error(), "node index 3 is vacant");
  CHECK(vtf_cluster_node(cluster, 4) == NULL);
  CHECK(!vtf_server_is_running(added)); /* its old handle fails cleanly */
  for (int i = 0; i < 2; i++)
    CHECK_MSG(kill(removed_pids[i], 0) == -1 && errno == ESRCH, "removed pid %d still runs",
              (int)removed_pids[i]);
  for (size_t i = 0; i < 3; i++) CHECK_INT_EQ(vtf_server_port(vtf_cluster_node(cluster, i)), ports[i]);
  CHECK(vtf_cluster_node(cluster, 0) == node0);
  CHECK_STATUS(vtf_cluster_remove_shard(cluster, 3), VTF_ERR_INVALID_ARGUMENT);
  CHECK_CONTAINS(vtf_last_error(), "removed");
  const size_t remaining[] = {0, 1, 2};
  check_cluster_ok(cluster, remaining, 3, "cluster_known_nodes:3");
  CHECK_INT_EQ(node_int(vtf_cluster_node(cluster, 0), "DBSIZE") +
                   node_int(vtf_cluster_node(cluster, 1), "DBSIZE") +
                   node_int(vtf_cluster_node(cluster, 2), "DBSIZE"),
               KEYS);
  /* The client made before all this follows the redirects too. */
  vtf_reply *reply = run(client, "GET key:7");
  CHECK_STR_EQ(vtf_reply_string(reply, NULL), "value:7");
  vtf_reply_free(reply);
  vtf_client_free(client);
  check_every_key(cluster, "after removing shard 3");

  vtf_cluster_free(cluster);
  CHECK_DONE("test_cluster_ops");
}
