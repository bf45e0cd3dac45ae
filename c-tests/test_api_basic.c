/* The functions that need no server: version, status names, last error. */
#include "check.h"

int main(void) {
  /* vtf_version: the package's version (VTF_EXPECTED_VERSION comes from CMake). */
  CHECK(vtf_version() != NULL);
  CHECK_STR_EQ(vtf_version(), VTF_EXPECTED_VERSION);

  /* vtf_status_name for every status, in the contract's order. */
  static const char *const names[] = {
      "VTF_OK",        "VTF_ERR_NULL_ARGUMENT", "VTF_ERR_INVALID_ARGUMENT",
      "VTF_ERR_BINARY_NOT_FOUND", "VTF_ERR_SPAWN", "VTF_ERR_SERVER_EXITED",
      "VTF_ERR_TIMEOUT", "VTF_ERR_CONNECTION", "VTF_ERR_TLS",
      "VTF_ERR_BUILD", "VTF_ERR_IO", "VTF_ERR_PANIC",
  };
  const vtf_status statuses[] = {
      VTF_OK,  VTF_ERR_NULL_ARGUMENT, VTF_ERR_INVALID_ARGUMENT, VTF_ERR_BINARY_NOT_FOUND,
      VTF_ERR_SPAWN, VTF_ERR_SERVER_EXITED, VTF_ERR_TIMEOUT, VTF_ERR_CONNECTION,
      VTF_ERR_TLS, VTF_ERR_BUILD, VTF_ERR_IO, VTF_ERR_PANIC,
  };
  const size_t count = sizeof names / sizeof names[0];
  CHECK_INT_EQ(sizeof statuses / sizeof statuses[0], count);
  CHECK_INT_EQ(VTF_OK, 0);
  for (size_t i = 0; i < count; i++) {
    CHECK_INT_EQ(statuses[i], i); /* the values are 0, 1, 2 ... as in the contract */
    CHECK_STR_EQ(vtf_status_name(statuses[i]), names[i]);
  }

  /* Out of range: a name that is none of the real ones, never NULL. */
  const int out_of_range[] = {(int)count, 999, -1};
  for (size_t i = 0; i < sizeof out_of_range / sizeof out_of_range[0]; i++) {
    /* Said first: a library that indexes a table with the raw value crashes here. */
    fprintf(stderr, "vtf_status_name(%d) ...\n", out_of_range[i]);
    fflush(stderr);
    const char *name = vtf_status_name((vtf_status)out_of_range[i]);
    CHECK_MSG(name != NULL, "vtf_status_name(%d) is NULL", out_of_range[i]);
    for (size_t j = 0; j < count; j++) {
      CHECK_MSG(strcmp(name, names[j]) != 0, "vtf_status_name(%d) is \"%s\"",
                out_of_range[i], name);
    }
  }

  /* The last error is never NULL; a success clears it. */
  CHECK(vtf_last_error() != NULL);
  vtf_config *config = vtf_config_new();
  CHECK(config != NULL);
  CHECK_STATUS(vtf_config_set_binary(NULL, "x"), VTF_ERR_NULL_ARGUMENT);
  CHECK(strlen(vtf_last_error()) > 0);
  CHECK_OK(vtf_config_add_arg(config, "maxmemory", "1mb"));
  CHECK_STR_EQ(vtf_last_error(), "");
  vtf_config_free(config);

  /* The last error is per thread: another failure elsewhere does not show here
   * (checked in test_threads.c); freeing NULL is a no-op. */
  vtf_string_free(NULL);
  CHECK_DONE("test_api_basic");
}
