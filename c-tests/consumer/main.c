/* The smallest use of the installed library: its version and a status name. */
#include <stdio.h>
#include <string.h>
#include <vtf.h>

int main(void) {
  const char *version = vtf_version();
  if (version == NULL || strcmp(version, VTF_EXPECTED_VERSION) != 0) {
    fprintf(stderr, "vtf_version() is \"%s\", the package says \"%s\"\n",
            version ? version : "(null)", VTF_EXPECTED_VERSION);
    return 1;
  }
  if (strcmp(vtf_status_name(VTF_ERR_TIMEOUT), "VTF_ERR_TIMEOUT") != 0) {
    fprintf(stderr, "vtf_status_name(VTF_ERR_TIMEOUT) is \"%s\"\n", vtf_status_name(VTF_ERR_TIMEOUT));
    return 1;
  }
  printf("vtf %s\n", version);
  return 0;
}
