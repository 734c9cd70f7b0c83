/*
 * TEST-ONLY shim for running the cross-built optimize.exe under wine 8.
 *
 * Rust's std (1.78+) gets random bytes from `ProcessPrng` in bcryptprimitives.dll, which
 * wine 8 does not provide: the exe then fails to start. This DLL exports `ProcessPrng`
 * and forwards to `RtlGenRandom` (exported by advapi32 as `SystemFunction036`), which wine
 * implements. tests/windows/run.sh builds it and copies it next to the exe in a throw-away
 * test directory only. It is NEVER shipped: real Windows has the genuine DLL.
 *
 * Build: x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll bcryptprimitives.c \
 *          bcryptprimitives.def -ladvapi32
 */
#include <windows.h>

typedef BOOLEAN(WINAPI *rtl_gen_random_fn)(PVOID, ULONG);

static rtl_gen_random_fn resolve(void)
{
    static rtl_gen_random_fn fn = NULL;
    if (fn == NULL) {
        HMODULE h = LoadLibraryA("advapi32.dll");
        if (h != NULL) {
            fn = (rtl_gen_random_fn)(void *)GetProcAddress(h, "SystemFunction036");
        }
    }
    return fn;
}

/* BOOL WINAPI ProcessPrng(PBYTE pbData, SIZE_T cbData); always TRUE on Windows. */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    rtl_gen_random_fn fn = resolve();
    if (fn == NULL) {
        return FALSE;
    }
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!fn(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE inst, DWORD reason, LPVOID reserved)
{
    (void)inst;
    (void)reason;
    (void)reserved;
    return TRUE;
}
