// vtf.h compiled as C++ and linked: proves the extern "C" wrapping.
#include <cstring>
#include <iostream>
#include <vtf.h>

int main() {
  const char *version = vtf_version();
  if (version == nullptr || std::strcmp(version, VTF_EXPECTED_VERSION) != 0) {
    std::cerr << "vtf_version() is " << (version ? version : "(null)") << ", expected "
              << VTF_EXPECTED_VERSION << "\n";
    return 1;
  }
  vtf_status status = VTF_OK;
  if (std::strcmp(vtf_status_name(status), "VTF_OK") != 0) {
    std::cerr << "vtf_status_name(VTF_OK) is " << vtf_status_name(status) << "\n";
    return 1;
  }
  std::cout << "vtf " << version << " from C++\n";
  return 0;
}
