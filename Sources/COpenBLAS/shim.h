// The cblas interface of the system OpenBLAS (Debian: libopenblas-dev), whose header lives
// under an architecture-specific directory that pkg-config names.
#include <cblas.h>
