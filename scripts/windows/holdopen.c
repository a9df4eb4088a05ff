/* TEST-ONLY helper of the Wine smoke suite (scripts/windows-check), never shipped.
 * Holds a file open as another Windows program would, until its standard input
 * closes:
 *   holdopen read PATH   shares reading only, as Excel holds a workbook it opened
 *                        or saved (others may read it, nobody may delete it);
 *   holdopen none PATH   shares nothing, as a copy still being written does.
 * Prints "held" once the file is open. */
#include <windows.h>
#include <stdio.h>
#include <wchar.h>

int wmain(int argc, wchar_t **argv)
{
    char line[64];
    DWORD share;
    HANDLE h;
    if (argc != 3)
        return 2;
    share = wcscmp(argv[1], L"read") == 0 ? FILE_SHARE_READ : 0;
    h = CreateFileW(argv[2], GENERIC_READ, share, NULL, OPEN_EXISTING, 0, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        fprintf(stderr, "holdopen: cannot open (error %lu)\n", GetLastError());
        return 1;
    }
    printf("held\n");
    fflush(stdout);
    while (fgets(line, sizeof line, stdin) != NULL) {
    }
    CloseHandle(h);
    return 0;
}
