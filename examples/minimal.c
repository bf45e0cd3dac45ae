/* The smallest complete vtf program: start a valkey-server, SET and GET a key,
 * print the value, clean up. Build against an installed vtf:
 *   cc minimal.c $(pkg-config --cflags --libs vtf)        (or CMake: ValkeyTestFramework::vtf) */
#include <stdio.h>
#include <vtf.h>

int main(void) {
  vtf_config *config = vtf_config_new();
  vtf_server *server = NULL;
  vtf_client *client = NULL;
  vtf_reply *reply = NULL;
  int rc = 1;

  if (vtf_server_start(config, &server) != VTF_OK ||
      vtf_client_connect(server, &client) != VTF_OK ||
      vtf_client_command_str(client, "SET greeting \"hello from valkey\"", &reply) != VTF_OK) {
    fprintf(stderr, "vtf: %s\n", vtf_last_error());
    goto done;
  }
  vtf_reply_free(reply);
  reply = NULL;
  if (vtf_client_command_str(client, "GET greeting", &reply) != VTF_OK) {
    fprintf(stderr, "vtf: %s\n", vtf_last_error());
    goto done;
  }
  if (vtf_reply_get_type(reply) == VTF_REPLY_STRING) {
    printf("%s (valkey-server on %s:%u)\n", vtf_reply_string(reply, NULL), vtf_server_host(server),
           (unsigned)vtf_server_port(server));
    rc = 0;
  }

done:
  vtf_reply_free(reply);
  vtf_client_free(client);
  vtf_server_free(server); /* stops the server and removes its directory */
  vtf_config_free(config);
  return rc;
}
