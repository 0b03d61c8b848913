//! files processors: ListFile, FetchFile, GetFile, TailFile and PutFile, on the local file
//! system, with NiFi's names, properties, relationships and attributes. Content is always
//! streamed, and what must survive a restart (listings, tail positions) is kept in the
//! processor's state directory.

use sluice_engine::Registry;

pub mod common;
pub mod fetch_file;
pub mod get_file;
pub mod list_file;
pub mod put_file;
pub mod state;
pub mod tail_file;

/// Registers the processors of this group.
pub fn register_all(registry: &mut Registry) {
    list_file::register(registry);
    fetch_file::register(registry);
    get_file::register(registry);
    tail_file::register(registry);
    put_file::register(registry);
}

#[cfg(test)]
pub(crate) mod test_support {
    /// Drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the effective capabilities of
    /// the calling thread only (capabilities are per thread on Linux), so that root is
    /// subject to file permissions like anyone else: permission tests then really fail.
    pub fn drop_dac_capabilities_of_this_thread() {
        #[repr(C)]
        struct Header {
            version: u32,
            pid: i32,
        }
        #[repr(C)]
        #[derive(Clone, Copy, Default)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        const VERSION_3: u32 = 0x2008_0522;
        const CAP_DAC_OVERRIDE: u32 = 1;
        const CAP_DAC_READ_SEARCH: u32 = 2;
        let mut header = Header { version: VERSION_3, pid: 0 };
        let mut data = [Data::default(); 2];
        // SAFETY: capget/capset with a version-3 header read/write exactly two Data structs.
        unsafe {
            assert_eq!(libc::syscall(libc::SYS_capget, &mut header as *mut Header, data.as_mut_ptr()), 0, "capget");
            data[0].effective &= !((1 << CAP_DAC_OVERRIDE) | (1 << CAP_DAC_READ_SEARCH));
            assert_eq!(libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()), 0, "capset");
        }
    }
}
