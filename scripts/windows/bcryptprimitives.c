/* TEST-ONLY stand-in for Windows' bcryptprimitives.dll, used by the Wine smoke
 * suite (scripts/windows-check) and never shipped. Rust's std on Windows 10+
 * draws random bytes from bcryptprimitives.dll!ProcessPrng, which Wine 8.0
 * (Debian 12) does not have; real Windows does. This forwards to RtlGenRandom
 * (advapi32's SystemFunction036). Built by MinGW into the test's Wine prefix. */
#include <windows.h>
#include <ntsecapi.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!RtlGenRandom(data, n))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
