// OpenSSL's libcrypto (Debian: libssl-dev), for SHA-256 with the CPU's SHA extensions.
#include <openssl/evp.h>
