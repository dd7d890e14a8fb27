//! OTA wire formats (being written).
