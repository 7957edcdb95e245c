import Foundation

enum Memory {
    /// The process's lifetime peak physical footprint in bytes: the figure iOS holds against an app's
    /// memory limit (TASK_VM_INFO's ledger, what Xcode's memory gauge shows); nil if the kernel gives none.
    static func peakFootprint() -> Int64? {
        var info = task_vm_info_data_t()
        var count = mach_msg_type_number_t(MemoryLayout<task_vm_info_data_t>.size / MemoryLayout<integer_t>.size)
        let status = withUnsafeMutablePointer(to: &info) { pointer in
            pointer.withMemoryRebound(to: integer_t.self, capacity: Int(count)) {
                task_info(mach_task_self_, task_flavor_t(TASK_VM_INFO), $0, &count)
            }
        }
        guard status == KERN_SUCCESS, info.ledger_phys_footprint_peak > 0 else {
            return nil
        }
        return info.ledger_phys_footprint_peak
    }
}
