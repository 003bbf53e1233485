/*
 * Every kernel joulebench knows, one line each. Adding a kernel is one line
 * here plus the file that defines `const jb_kernel jb_k_<id>`; list, verify,
 * the tests and run then see it with no other change.
 */
/* matmul */
JB_KERNEL(matmul_cpu_naive_f32)
JB_KERNEL(matmul_cpu_blocked_f32)
JB_KERNEL(matmul_cpu_blocked_int8)
JB_KERNEL(matmul_cpu_blocked_bf16)
JB_KERNEL(matmul_cpu_blocked_w8)
JB_KERNEL(matmul_cpu_blocked_w4)
JB_KERNEL(matmul_cpu_amx_bf16)
JB_KERNEL(matmul_cpu_amx_int8)
JB_KERNEL(matmul_cpu_onednn_f32)
JB_KERNEL(matmul_cpu_onednn_int8)
JB_KERNEL(matmul_cpu_onednn_bf16)
/* softmax */
JB_KERNEL(softmax_cpu_naive_f32)
JB_KERNEL(softmax_cpu_fused_f32)
JB_KERNEL(softmax_cpu_onednn_f32)
/* attention */
JB_KERNEL(attention_cpu_naive_f32)
JB_KERNEL(attention_cpu_fused_f32)
JB_KERNEL(attention_cpu_flash_f32)
JB_KERNEL(attention_cpu_flash_int8)
JB_KERNEL(attention_cpu_flash_bf16)
JB_KERNEL(attention_cpu_splitkv_f32)
JB_KERNEL(attention_cpu_splitkv_int8)
JB_KERNEL(attention_cpu_onednn_f32)
/* CUDA */
JB_KERNEL(matmul_cuda_naive_f32)
JB_KERNEL(matmul_cuda_tiled_f32)
JB_KERNEL(matmul_cuda_cublas_f32)
JB_KERNEL(matmul_cuda_cublas_tf32)
JB_KERNEL(matmul_cuda_cublas_bf16)
JB_KERNEL(matmul_cuda_cublas_int8)
JB_KERNEL(softmax_cuda_naive_f32)
JB_KERNEL(softmax_cuda_fused_f32)
JB_KERNEL(attention_cuda_naive_f32)
JB_KERNEL(attention_cuda_flash_f32)
