/* NULL for every pointer argument of the core functions: VTF_ERR_NULL_ARGUMENT
 * (or NULL / 0 / false / -1 where no status is returned), never a crash, and
 * out-parameters untouched on failure. */
#include "check.h"

#define NULL_ARG(expr) CHECK_STATUS(expr, VTF_ERR_NULL_ARGUMENT)

int main(void) {
  /* Sentinels: out-parameters are written only on success. */
  vtf_server *const server_sentinel = (vtf_server *)(uintptr_t)0x10;
  vtf_client *const client_sentinel = (vtf_client *)(uintptr_t)0x20;
  vtf_reply *const reply_sentinel = (vtf_reply *)(uintptr_t)0x30;

  /* Config. */
  vtf_config_free(NULL);
  vtf_config *config = vtf_config_new();
  CHECK(config != NULL);
  NULL_ARG(vtf_config_set_binary(NULL, "/usr/bin/valkey-server"));
  CHECK_CONTAINS(vtf_last_error(), "NULL");
  NULL_ARG(vtf_config_set_binary(config, NULL));
  NULL_ARG(vtf_config_add_arg(NULL, "maxmemory", "1mb"));
  NULL_ARG(vtf_config_add_arg(config, NULL, "1mb"));
  NULL_ARG(vtf_config_add_arg(config, "maxmemory", NULL));
  NULL_ARG(vtf_config_add_module(NULL, "/tmp/m.so", NULL, 0));
  NULL_ARG(vtf_config_add_module(config, NULL, NULL, 0));
  NULL_ARG(vtf_config_add_module(config, "/tmp/m.so", NULL, 2));
  const char *const args_with_null[] = {"a", NULL};
  NULL_ARG(vtf_config_add_module(config, "/tmp/m.so", args_with_null, 2));
  NULL_ARG(vtf_config_set_config_file(NULL, "/tmp/x.conf"));
  NULL_ARG(vtf_config_set_config_file(config, NULL));
  NULL_ARG(vtf_config_set_tls(NULL, VTF_TLS_OFF));
  NULL_ARG(vtf_config_set_startup_timeout_ms(NULL, 1000));
  NULL_ARG(vtf_config_set_password(NULL, "pw"));
  NULL_ARG(vtf_config_set_password(config, NULL));
  NULL_ARG(vtf_config_set_tls_files(NULL, "/ca.crt", NULL, NULL));
  NULL_ARG(vtf_config_set_tls_files(config, NULL, NULL, NULL));
  NULL_ARG(vtf_config_set_flush_on_attach(NULL, true));
  NULL_ARG(vtf_config_set_command_timeout_ms(NULL, 1000));

  /* Server: start. The config above is still usable (failed calls change nothing). */
  vtf_server *server = server_sentinel;
  NULL_ARG(vtf_server_start(NULL, &server));
  CHECK(server == server_sentinel);
  NULL_ARG(vtf_server_start(config, NULL));
  NULL_ARG(vtf_server_attach(NULL, "127.0.0.1", 6379, &server));
  NULL_ARG(vtf_server_attach(config, NULL, 6379, &server));
  NULL_ARG(vtf_server_attach(config, "127.0.0.1", 6379, NULL));
  CHECK(server == server_sentinel);
  CHECK(!vtf_server_is_external(NULL));

  /* Server accessors on NULL. */
  CHECK_INT_EQ(vtf_server_port(NULL), 0);
  CHECK(vtf_server_host(NULL) == NULL);
  CHECK_INT_EQ(vtf_server_pid(NULL), -1);
  CHECK(vtf_server_dir(NULL) == NULL);
  CHECK(vtf_server_log_path(NULL) == NULL);
  CHECK(!vtf_server_is_running(NULL));
  NULL_ARG(vtf_server_stop(NULL));
  NULL_ARG(vtf_server_restart(NULL, true));
  NULL_ARG(vtf_server_restart(NULL, false));
  CHECK(vtf_server_tls_ca_cert_path(NULL) == NULL);
  CHECK(vtf_server_tls_client_cert_path(NULL) == NULL);
  CHECK(vtf_server_tls_client_key_path(NULL) == NULL);
  bool found = true;
  NULL_ARG(vtf_server_log_contains(NULL, "x", &found));
  CHECK(found == true);
  NULL_ARG(vtf_server_wait_for_log(NULL, "x", 10));
  vtf_server_free(NULL);

  /* Client and reply functions on NULL. */
  vtf_client *client = client_sentinel;
  NULL_ARG(vtf_client_connect(NULL, &client));
  CHECK(client == client_sentinel);
  const char *const ping[] = {"PING"};
  const size_t ping_len[] = {4};
  vtf_reply *reply = reply_sentinel;
  NULL_ARG(vtf_client_command(NULL, 1, ping, ping_len, &reply));
  NULL_ARG(vtf_client_command_str(NULL, "PING", &reply));
  CHECK(reply == reply_sentinel);
  vtf_client_free(NULL);
  CHECK_INT_EQ(vtf_reply_get_type(NULL), VTF_REPLY_NIL);
  CHECK_INT_EQ(vtf_reply_integer(NULL), 0);
  CHECK(vtf_reply_double(NULL) == 0.0);
  size_t len = 77;
  CHECK(vtf_reply_string(NULL, &len) == NULL);
  CHECK(vtf_reply_string(NULL, NULL) == NULL);
  CHECK_INT_EQ(vtf_reply_len(NULL), 0);
  CHECK(vtf_reply_element(NULL, 0) == NULL);
  vtf_reply_free(NULL);

  /* The same functions with a live handle and NULL for the other pointers. */
  server = check_start(config);
  found = true;
  NULL_ARG(vtf_server_log_contains(server, NULL, &found));
  CHECK(found == true);
  NULL_ARG(vtf_server_log_contains(server, "Ready", NULL));
  NULL_ARG(vtf_server_wait_for_log(server, NULL, 10));
  NULL_ARG(vtf_client_connect(server, NULL));

  vtf_client *live = check_connect(server);
  reply = reply_sentinel;
  NULL_ARG(vtf_client_command(live, 1, NULL, ping_len, &reply));
  NULL_ARG(vtf_client_command(live, 1, ping, ping_len, NULL));
  const char *const argv_with_null[] = {"ECHO", NULL};
  NULL_ARG(vtf_client_command(live, 2, argv_with_null, NULL, &reply));
  NULL_ARG(vtf_client_command_str(live, NULL, &reply));
  NULL_ARG(vtf_client_command_str(live, "PING", NULL));
  CHECK(reply == reply_sentinel);
  /* argc 0 is no command at all. */
  CHECK_STATUS(vtf_client_command(live, 0, ping, ping_len, &reply), VTF_ERR_INVALID_ARGUMENT);
  CHECK(reply == reply_sentinel);

  /* The client still works after all that: nothing was half-sent. */
  reply = NULL;
  CHECK_OK(vtf_client_command(live, 1, ping, NULL, &reply));
  CHECK_INT_EQ(vtf_reply_get_type(reply), VTF_REPLY_STATUS);
  /* len is optional: the string is NUL-terminated as well. */
  CHECK_STR_EQ(vtf_reply_string(reply, NULL), "PONG");
  vtf_reply_free(reply);

  vtf_client_free(live);
  check_free_server(server);

  /* Cluster operations on a NULL cluster (the nonsense arguments on a live
   * cluster are in test_cluster_ops.c). */
  CHECK_INT_EQ(vtf_cluster_shard_count(NULL), 0);
  NULL_ARG(vtf_cluster_move_slots(NULL, 0, 100, 1));
  CHECK_CONTAINS(vtf_last_error(), "vtf_cluster_move_slots");
  size_t shard_out = 77;
  NULL_ARG(vtf_cluster_add_shard(NULL, 1, &shard_out));
  CHECK_INT_EQ(shard_out, 77);
  NULL_ARG(vtf_cluster_add_shard(NULL, 1, NULL));
  NULL_ARG(vtf_cluster_remove_shard(NULL, 0));

  vtf_config_free(config);
  CHECK_DONE("test_api_null");
}
