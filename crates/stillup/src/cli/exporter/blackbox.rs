//! A blackbox_exporter `blackbox.yml`, read as modules (`--blackbox-config FILE`): the common
//! subset is translated to stillup's options; anything else is refused with file, line and key.
