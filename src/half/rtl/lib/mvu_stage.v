// SPDX-License-Identifier: Apache-2.0
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * mvu_stage — one dataflow stage: a double-buffered input window and a matrix-vector unit with
 * PE output channels x SIMD inputs in parallel, integer requantization and a fused max-pool.
 * A standard 1D convolution; a fully-connected layer is the case L_IN = K = 1, PAD = 0; a
 * pointwise convolution the case K = 1. With DW = 1 it is the vector unit of a depthwise
 * convolution (CIN = COUT, one kernel per channel): PE channels x SIMD taps in parallel.
 *
 * Parameters
 *   CIN, COUT        input / output channels            K, STRIDE, PAD   kernel, stride, zeros
 *   L_IN             input length (time steps)          POOL             max-pool (kernel = stride)
 *   PE, SIMD         parallel output channels (divides COUT) and inputs (divides CIN, or a
 *                    multiple of CIN dividing K*CIN); depthwise: channels and taps (divides K)
 *   DW               0 standard convolution / dense, 1 depthwise convolution
 *   IN_W, IN_SIGNED  input element width / signedness  W_W              weight width (signed)
 *   ACC_W            accumulator width (signed; holds every reachable sum)
 *   RQ               requantization: 0 thresholds, 1 multiply-shift, 2 affine (class scores)
 *   OUT_W, OUT_SIGNED  output element width / signedness (affine: the score width, signed)
 *   MUL_W, ADD_W, SH_W widths of the multiply-shift / affine parameters
 *   MAC_DSP          1: products written as `*` (synthesis may use DSP blocks); 0: as
 *                    shift-and-add of the weight bits, so they stay in logic
 *   W_BRAM           1: weight ROM in block RAM (rom_style "block"); 0: in logic
 *   BUF_BRAM         1: window buffers in block RAM (ram_style "block"); 0: synthesis decides
 *   ARGMAX, IDX_W    1: a fused argmax (L_IN = K = POOL = 1): the output beat is the IDX_W-bit
 *                    index of the largest of the COUT outputs (the first one on ties), found
 *                    by a running comparison as the channel groups come out
 *   PSUMS            0: each PE's SIMD products are summed and added into its accumulator in
 *                    one cycle; P >= 1 (P divides SIMD): summed in P groups of SIMD/P
 *                    consecutive lanes into P partial-sum registers, which the next cycle adds
 *                    into the accumulator (one pipeline level more: a shorter MAC path)
 *   W_FILE, R_FILE   $readmemh files: weights (one word per group x chunk) and requant
 *                    parameters (thresholds: one word per group x search-tree node;
 *                    otherwise one word per group); see half/rtl/mem.py for the layouts
 * Ports
 *   s_axis_*  one time step of all CIN input channels per beat (tlast on the window's last)
 *   m_axis_*  one (pooled) time step of all COUT output channels per beat (ARGMAX: the index)
 * Timing (no stalls)
 *   compute cycles per window N = L_OUT * (K*CIN/SIMD) * (COUT/PE), depthwise
 *   N = L_OUT * (K/SIMD) * (COUT/PE), one MAC step per cycle;
 *   windows follow back to back (II = max(N, L_IN)); the last output beat of a window leaves
 *   DEPTH cycles after its last MAC step was issued: DEPTH = 6 (multiply-shift, affine) or
 *   5 + OUT_W (thresholds: a binary search, one tree level per cycle), plus 1 with PSUMS >= 1
 *   (the partial sums' register). Back-pressure on m_axis stalls the whole pipeline; input
 *   beats keep filling the free buffer bank.
 * Structure (for synthesis)
 *   The input window lives in R = max(1, SIMD/CIN) identical buffers (depthwise: R = SIMD),
 *   each 2*L_IN words of CIN*IN_W bits with one write port and one registered read port
 *   (block RAM or LUT RAM); step t reads taps tap_c .. tap_c+R-1 of position l. Weights are
 *   read through a register (one word per step, sequential addresses), requant parameters one
 *   word per channel group through a register. Thresholds are searched, not compared all at
 *   once: the 2^OUT_W - 1 sorted thresholds of a channel form a binary tree (heap order), and
 *   each of OUT_W pipelined levels compares the sum with one node and reads the next level's
 *   node — OUT_W comparators per PE instead of 2^OUT_W - 1. All indices are counters (no
 *   dividers); the fused max-pool keeps the channel groups in a rotating queue.
 */
module mvu_stage #(
    parameter integer CIN = 1,  // input channels
    parameter integer COUT = 4,  // output channels
    parameter integer K = 3,  // kernel taps
    parameter integer STRIDE = 1,  // convolution stride
    parameter integer PAD = 1,  // zeros on each side
    parameter integer L_IN = 16,  // input time steps per window
    parameter integer POOL = 1,  // fused max-pool (1 = none)
    parameter integer PE = 1,  // output channels in parallel
    parameter integer SIMD = 1,  // inputs in parallel (depthwise: taps in parallel)
    parameter integer DW = 0,  // 1: depthwise convolution (CIN = COUT)
    parameter integer IN_W = 8,  // input element width
    parameter integer IN_SIGNED = 1,  // input elements signed
    parameter integer W_W = 4,  // weight width (signed)
    parameter integer ACC_W = 16,  // accumulator width (signed)
    parameter integer RQ = 0,  // 0 thresholds, 1 multiply-shift, 2 affine
    parameter integer OUT_W = 4,  // output element width
    parameter integer OUT_SIGNED = 0,  // output elements signed
    parameter integer MUL_W = 17,  // multiplier width (unsigned values, stored in MUL_W bits)
    parameter integer ADD_W = 32,  // addend width (signed)
    parameter integer SH_W = 6,  // shift width
    parameter integer MAC_DSP = 1,  // products as `*` (DSP-mappable) or shift-and-add
    parameter integer W_BRAM = 0,  // weight ROM in block RAM
    parameter integer BUF_BRAM = 0,  // window buffers in block RAM (else synthesis decides)
    parameter integer ARGMAX = 0,  // 1: emit the index of the largest output (classifier)
    parameter integer IDX_W = 1,  // width of that index
    parameter integer PSUMS = 0,  // partial sums per PE registered before the accumulator (0: none)
    parameter W_FILE = "weights.mem",  // weights
    parameter R_FILE = "requant.mem"  // thresholds or multiply-shift parameters
) (
    input  wire                  clk,
    input  wire                  rst,
    input  wire [CIN*IN_W-1:0]   s_axis_tdata,
    input  wire                  s_axis_tlast,
    input  wire                  s_axis_tvalid,
    output wire                  s_axis_tready,
    output wire [(ARGMAX != 0 ? IDX_W : COUT*OUT_W)-1:0] m_axis_tdata,
    output wire                  m_axis_tlast,
    output wire                  m_axis_tvalid,
    input  wire                  m_axis_tready
);

    localparam integer L_OUT = (L_IN + 2 * PAD - K) / STRIDE + 1;
    localparam integer L_POOL = L_OUT / POOL;
    localparam integer NCHUNK = (DW != 0) ? K / SIMD : K * CIN / SIMD;  // steps per (l, g)
    localparam integer NGROUP = COUT / PE;
    localparam integer XW = IN_W + 1;  // inputs as signed values
    localparam integer RW = MUL_W + ADD_W + SH_W;  // multiply-shift word, per channel
    localparam integer OUT_MIN = (OUT_SIGNED != 0) ? -(1 << (OUT_W - 1)) : 0;
    localparam integer OUT_MAX = (OUT_SIGNED != 0) ? (1 << (OUT_W - 1)) - 1 : (1 << OUT_W) - 1;
    // reads per step (time steps) and channel slices of a read word
    localparam integer R = (DW != 0) ? SIMD : (SIMD > CIN ? SIMD / CIN : 1);
    localparam integer CS = (DW != 0) ? 1 : (SIMD < CIN ? CIN / SIMD : 1);
    localparam integer XP = (DW != 0) ? PE : 1;  // input vectors per step (depthwise: per PE)
    localparam integer CW = CIN * IN_W;  // buffer word
    // counter widths
    localparam integer AW = $clog2(2 * L_IN);  // buffer address
    localparam integer PW = $clog2(L_IN + 2 * PAD + K + STRIDE * L_OUT + 2) + 1;  // signed pos
    localparam integer LW = $clog2(L_OUT + 1);
    localparam integer GW = (NGROUP > 1) ? $clog2(NGROUP) : 1;  // 0 .. NGROUP-1
    localparam integer SW = $clog2(CS + 1);
    localparam integer TW = $clog2(K + 1);
    localparam integer WA = (NGROUP * NCHUNK > 1) ? $clog2(NGROUP * NCHUNK) : 1;  // ROM address
    localparam integer QW = $clog2(POOL + 1);
    localparam integer NP = (PSUMS > 0) ? PSUMS : 1;  // sums per PE out of the operand stage
    localparam integer GL = SIMD / NP;  // lanes per sum

    generate
        if (DW == 0 && (COUT % PE != 0 || (K * CIN) % SIMD != 0 ||
                        (CIN % SIMD != 0 && SIMD % CIN != 0)))
        begin : g_bad_folding
            initial $error("mvu_stage: PE must divide COUT, SIMD divide CIN or span whole taps");
        end
        if (DW != 0 && (CIN != COUT || COUT % PE != 0 || K % SIMD != 0)) begin : g_bad_dw
            initial $error("mvu_stage: depthwise needs CIN = COUT, PE | COUT and SIMD | K");
        end
        if (L_OUT < 1 || L_POOL < 1) begin : g_bad_length
            initial $error("mvu_stage: the window is shorter than the kernel or the pool");
        end
        if (PSUMS < 0 || (PSUMS > 0 && SIMD % NP != 0)) begin : g_bad_psums
            initial $error("mvu_stage: PSUMS must be 0 or divide SIMD (instance %m)");
        end
    endgenerate

    // ---- input: two banks of L_IN time steps (in each of the R read buffers) ----------------
    reg [1:0] full_reg;  // bank holds a complete window
    reg wr_bank_reg, rd_bank_reg;
    reg [AW-1:0] wr_addr_reg;
    wire wr_take = s_axis_tvalid && !full_reg[wr_bank_reg];
    wire wr_last = wr_take && wr_addr_reg == AW'(L_IN - 1);
    assign s_axis_tready = !full_reg[wr_bank_reg];
    // windows are counted by length; tlast is carried for the stream's consumers and checkers
    // verilator lint_off UNUSEDSIGNAL
    wire unused_tlast = s_axis_tlast;
    // verilator lint_on UNUSEDSIGNAL

    // ---- issue: (position l, group g, chunk c), one per cycle --------------------------------
    reg busy_reg;
    reg [LW-1:0] l_reg;
    reg [GW-1:0] g_reg;
    reg [WA-1:0] c_reg;  // chunk within (l, g)
    reg [WA-1:0] w_addr_reg;  // g * NCHUNK + c
    reg [SW-1:0] cs_reg;  // channel slice of the read words
    reg [TW-1:0] tap_reg;  // first tap read by this step
    reg signed [PW-1:0] pbase_reg;  // l * STRIDE - PAD
    reg [QW-1:0] pq_reg;  // l % POOL
    reg [LW-1:0] lq_reg;  // l / POOL
    reg m_valid_reg, m_last_reg;
    localparam integer MW = (ARGMAX != 0) ? IDX_W : COUT * OUT_W;  // output beat
    reg [MW-1:0] m_data_reg;
    wire adv = !m_valid_reg || m_axis_tready;  // the pipeline moves unless the output waits
    wire issue = busy_reg && adv;
    wire c_end = c_reg == WA'(NCHUNK - 1);
    wire g_end = g_reg == GW'(NGROUP - 1);
    wire l_end = l_reg == LW'(L_OUT - 1);
    wire last_issue = issue && c_end && g_end && l_end;

    always @(posedge clk) begin
        if (rst) begin
            full_reg <= 2'b00;
            wr_bank_reg <= 1'b0;
            rd_bank_reg <= 1'b0;
            wr_addr_reg <= {AW{1'b0}};
            busy_reg <= 1'b0;
            l_reg <= {LW{1'b0}};
            g_reg <= {GW{1'b0}};
            c_reg <= {WA{1'b0}};
            w_addr_reg <= {WA{1'b0}};
            cs_reg <= {SW{1'b0}};
            tap_reg <= {TW{1'b0}};
            pbase_reg <= -PW'(PAD);
            pq_reg <= {QW{1'b0}};
            lq_reg <= {LW{1'b0}};
        end else begin
            if (wr_take) begin
                if (wr_addr_reg == AW'(L_IN - 1)) begin
                    wr_addr_reg <= {AW{1'b0}};
                    wr_bank_reg <= !wr_bank_reg;
                end else begin
                    wr_addr_reg <= wr_addr_reg + 1'b1;
                end
            end
            if (!busy_reg) begin
                busy_reg <= full_reg[rd_bank_reg];
            end else if (issue) begin
                if (!c_end) begin
                    c_reg <= c_reg + 1'b1;
                    w_addr_reg <= w_addr_reg + 1'b1;
                    if (cs_reg == SW'(CS - 1)) begin
                        cs_reg <= {SW{1'b0}};
                        tap_reg <= tap_reg + TW'(R);
                    end else begin
                        cs_reg <= cs_reg + 1'b1;
                    end
                end else begin
                    c_reg <= {WA{1'b0}};
                    cs_reg <= {SW{1'b0}};
                    tap_reg <= {TW{1'b0}};
                    if (!g_end) begin
                        g_reg <= g_reg + 1'b1;
                        w_addr_reg <= w_addr_reg + 1'b1;
                    end else begin
                        g_reg <= {GW{1'b0}};
                        w_addr_reg <= {WA{1'b0}};
                        if (l_end) begin
                            l_reg <= {LW{1'b0}};
                            pbase_reg <= -PW'(PAD);
                            pq_reg <= {QW{1'b0}};
                            lq_reg <= {LW{1'b0}};
                        end else begin
                            l_reg <= l_reg + 1'b1;
                            pbase_reg <= pbase_reg + PW'(STRIDE);
                            if (pq_reg == QW'(POOL - 1)) begin
                                pq_reg <= {QW{1'b0}};
                                lq_reg <= lq_reg + 1'b1;
                            end else begin
                                pq_reg <= pq_reg + 1'b1;
                            end
                        end
                    end
                end
                if (last_issue) begin
                    rd_bank_reg <= !rd_bank_reg;
                    // go straight on when the other bank is (or is just becoming) full
                    busy_reg <= full_reg[!rd_bank_reg] ||
                                (wr_last && wr_bank_reg != rd_bank_reg);
                end
            end
            // full flags: set by the writer's last beat, cleared by the reader's last issue
            full_reg[0] <= (full_reg[0] || (wr_last && !wr_bank_reg))
                           && !(last_issue && !rd_bank_reg);
            full_reg[1] <= (full_reg[1] || (wr_last && wr_bank_reg))
                           && !(last_issue && rd_bank_reg);
        end
    end

    // ---- stage 1: buffer reads, weights and flags of the issued step ---------------------------
    // R buffers, identical contents; buffer r reads tap tap_reg + r of position l
    wire [AW-1:0] wr_full_addr = wr_bank_reg ? AW'(L_IN) + wr_addr_reg : wr_addr_reg;
    reg [R*CW-1:0] rd_s1;
    reg [R-1:0] pad_s1;
    genvar gr;
    generate
        for (gr = 0; gr < R; gr = gr + 1) begin : g_buf
            wire signed [PW-1:0] pos = pbase_reg + PW'(tap_reg) + PW'(gr);
            wire outside = pos < 0 || pos >= PW'(L_IN);
            wire [AW-1:0] pos_a = outside ? {AW{1'b0}} : pos[AW-1:0];
            wire [AW-1:0] rd_addr = rd_bank_reg ? AW'(L_IN) + pos_a : pos_a;
            always @(posedge clk) if (adv) pad_s1[gr] <= outside;
            if (BUF_BRAM != 0) begin : g_block
                (* ram_style = "block", no_rw_check *) reg [CW-1:0] buffer [0:2*L_IN-1];
                always @(posedge clk) begin
                    if (wr_take) buffer[wr_full_addr] <= s_axis_tdata;
                    if (adv) rd_s1[gr*CW +: CW] <= buffer[rd_addr];
                end
            end else begin : g_auto  // synthesis decides (block RAM, LUT RAM or registers)
                (* no_rw_check *) reg [CW-1:0] buffer [0:2*L_IN-1];
                always @(posedge clk) begin
                    if (wr_take) buffer[wr_full_addr] <= s_axis_tdata;
                    if (adv) rd_s1[gr*CW +: CW] <= buffer[rd_addr];
                end
            end
        end
    endgenerate

    // weight ROM, read through w_s1 (one word per step); block RAM or logic as configured
    reg [PE*SIMD*W_W-1:0] w_s1;
    generate
        if (W_BRAM != 0) begin : g_wrom_block
            (* rom_style = "block" *) reg [PE*SIMD*W_W-1:0] wrom [0:NGROUP*NCHUNK-1];
            initial $readmemh(W_FILE, wrom);
            always @(posedge clk) if (adv) w_s1 <= wrom[w_addr_reg];
        end else begin : g_wrom_logic
            (* rom_style = "logic" *) reg [PE*SIMD*W_W-1:0] wrom [0:NGROUP*NCHUNK-1];
            initial $readmemh(W_FILE, wrom);
            always @(posedge clk) if (adv) w_s1 <= wrom[w_addr_reg];
        end
    endgenerate

    reg v_s1, first_s1, last_s1, pfirst_s1, emit_s1, olast_s1;
    reg [GW-1:0] g_s1;
    reg [SW-1:0] cs_s1;
    always @(posedge clk) begin
        if (rst) begin
            v_s1 <= 1'b0;
        end else if (adv) begin
            v_s1 <= issue;
            first_s1 <= c_reg == {WA{1'b0}};
            last_s1 <= c_end;
            g_s1 <= g_reg;
            cs_s1 <= cs_reg;
            pfirst_s1 <= pq_reg == {QW{1'b0}};
            // the last group of a pooled position that the pool keeps: one output beat
            emit_s1 <= g_end && pq_reg == QW'(POOL - 1) && lq_reg < LW'(L_POOL);
            olast_s1 <= lq_reg == LW'(L_POOL - 1);
        end
    end

    // ---- stage 2: operands, PE dot products, accumulated over the chunks ----------------------
    // operand (x, j): lane j of input vector x (standard: one vector shared by the PEs, element
    // cs*SIMD + j of the R words read, cs the channel slice; depthwise: PE x's channel g*PE + x
    // of read j). Every index below is a constant of the unrolled loops, and the slice (group)
    // is chosen by a multiplexer: a variable index would be a product that synthesis may map to
    // DSP blocks (Yosys did, for the flattened ECP5 designs).
    reg [XP*SIMD*XW-1:0] x_s2;
    reg [R*CW-1:0] rd_pad;
    reg [IN_W-1:0] elem;
    integer xv, j, rr, sel;
    always @* begin
        for (rr = 0; rr < R; rr = rr + 1) begin
            rd_pad[rr*CW +: CW] = pad_s1[rr] ? {CW{1'b0}} : rd_s1[rr*CW +: CW];
        end
        x_s2 = {XP*SIMD*XW{1'b0}};
        for (xv = 0; xv < XP; xv = xv + 1) begin
            for (j = 0; j < SIMD; j = j + 1) begin
                elem = {IN_W{1'b0}};
                if (DW != 0) begin
                    for (sel = 0; sel < NGROUP; sel = sel + 1) begin
                        if (NGROUP == 1 || g_s1 == GW'(sel)) begin
                            elem = rd_pad[(j*CIN + sel*PE + xv)*IN_W +: IN_W];
                        end
                    end
                end else begin
                    for (sel = 0; sel < CS; sel = sel + 1) begin
                        if (CS == 1 || cs_s1 == SW'(sel)) begin
                            elem = rd_pad[(sel*SIMD + j)*IN_W +: IN_W];
                        end
                    end
                end
                x_s2[(xv*SIMD + j)*XW +: XW] = {IN_SIGNED != 0 && elem[IN_W-1], elem};
            end
        end
    end

    // operand register: the selected operands and the step's flags, one cycle later
    reg [XP*SIMD*XW-1:0] x_op;
    reg [PE*SIMD*W_W-1:0] w_op;
    reg v_op, first_op, last_op, pfirst_op, emit_op, olast_op;
    reg [GW-1:0] g_op;
    always @(posedge clk) begin
        if (rst) begin
            v_op <= 1'b0;
        end else if (adv) begin
            v_op <= v_s1;
            x_op <= x_s2;
            w_op <= w_s1;
            first_op <= first_s1;
            last_op <= last_s1;
            pfirst_op <= pfirst_s1;
            emit_op <= emit_s1;
            olast_op <= olast_s1;
            g_op <= g_s1;
        end
    end

    reg signed [ACC_W-1:0] acc_s2 [0:PE-1];
    reg v_s2, pfirst_s2, emit_s2, olast_s2;
    reg [GW-1:0] g_s2;
    // PE p's sum k of lanes k*GL .. k*GL+GL-1 (PSUMS = 0: one sum, the whole dot product)
    reg signed [ACC_W-1:0] dot [0:PE*NP-1];
    // x * w: a `*` (DSP-mappable), or the weight's bits selecting shifted copies of x (the top
    // bit's subtracted); either is exact modulo 2^ACC_W, which holds every reachable sum
    function automatic signed [ACC_W-1:0] product(input signed [XW-1:0] x,
                                                  input signed [W_W-1:0] w);
        integer b;
        begin
            if (MAC_DSP != 0) begin
                product = ACC_W'(x * w);
            end else begin
                product = {ACC_W{1'b0}};
                for (b = 0; b < W_W; b = b + 1) begin
                    if (w[b]) begin
                        if (b == W_W - 1) product = product - (ACC_W'(x) <<< b);
                        else product = product + (ACC_W'(x) <<< b);
                    end
                end
            end
        end
    endfunction
    integer p, k, q;
    // verilator lint_off UNUSEDSIGNAL
    integer xq;  // an operand index: its high bits stay zero
    // verilator lint_on UNUSEDSIGNAL
    always @* begin
        for (p = 0; p < PE; p = p + 1) begin
            for (k = 0; k < NP; k = k + 1) dot[p*NP + k] = {ACC_W{1'b0}};
            for (q = 0; q < SIMD; q = q + 1) begin  // lane q goes to sum q / GL
                xq = (DW != 0) ? p * SIMD + q : q;  // the PE's own vector when depthwise
                dot[p*NP + q/GL] = dot[p*NP + q/GL]
                                   + product($signed(x_op[xq*XW +: XW]),
                                             $signed(w_op[(p*SIMD + q)*W_W +: W_W]));
            end
        end
    end

    // the step entering the accumulators: the operand register's (PSUMS = 0) or, one cycle
    // later, the partial sums' register's; its flags and group travel with it (the group also
    // reads the requantization's parameters of the sums entering stage 3)
    wire v_a, first_a, last_a, pfirst_a, emit_a, olast_a;
    wire [GW-1:0] g_a;
    wire [PE*ACC_W-1:0] dot_a;  // what each PE adds into its accumulator
    genvar gp;
    generate
        if (PSUMS == 0) begin : g_mac_direct
            assign {v_a, first_a, last_a, pfirst_a, emit_a, olast_a} =
                {v_op, first_op, last_op, pfirst_op, emit_op, olast_op};
            assign g_a = g_op;
            for (gp = 0; gp < PE; gp = gp + 1) begin : g_pe
                assign dot_a[gp*ACC_W +: ACC_W] = dot[gp];
            end
        end else begin : g_mac_psums
            // partial-sum register: PE x PSUMS sums and the step's flags, advancing with adv
            reg [PE*NP*ACC_W-1:0] ps_reg;  // sum k of PE p: word p*NP + k
            reg v_ps, first_ps, last_ps, pfirst_ps, emit_ps, olast_ps;
            reg [GW-1:0] g_ps;
            reg [PE*ACC_W-1:0] ps_sum;
            integer i, pk, ks;
            always @(posedge clk) begin
                if (rst) begin
                    v_ps <= 1'b0;
                end else if (adv) begin
                    v_ps <= v_op;
                    {first_ps, last_ps, pfirst_ps, emit_ps, olast_ps} <=
                        {first_op, last_op, pfirst_op, emit_op, olast_op};
                    g_ps <= g_op;
                    for (i = 0; i < PE * NP; i = i + 1) ps_reg[i*ACC_W +: ACC_W] <= dot[i];
                end
            end
            always @* begin
                for (pk = 0; pk < PE; pk = pk + 1) begin
                    ps_sum[pk*ACC_W +: ACC_W] = {ACC_W{1'b0}};
                    for (ks = 0; ks < NP; ks = ks + 1) begin
                        ps_sum[pk*ACC_W +: ACC_W] = ps_sum[pk*ACC_W +: ACC_W]
                                                    + ps_reg[(pk*NP + ks)*ACC_W +: ACC_W];
                    end
                end
            end
            assign {v_a, first_a, last_a, pfirst_a, emit_a, olast_a} =
                {v_ps, first_ps, last_ps, pfirst_ps, emit_ps, olast_ps};
            assign g_a = g_ps;
            assign dot_a = ps_sum;
        end
    endgenerate

    integer pa;
    always @(posedge clk) begin
        if (rst) begin
            v_s2 <= 1'b0;
        end else if (adv) begin
            v_s2 <= v_a && last_a;
            pfirst_s2 <= pfirst_a;
            emit_s2 <= emit_a;
            olast_s2 <= olast_a;
            g_s2 <= g_a;
            if (v_a) begin
                for (pa = 0; pa < PE; pa = pa + 1) begin
                    acc_s2[pa] <= first_a ? $signed(dot_a[pa*ACC_W +: ACC_W])
                                          : acc_s2[pa] + $signed(dot_a[pa*ACC_W +: ACC_W]);
                end
            end
        end
    end

    // ---- stage 3: requantization ---------------------------------------------------------------
    reg [PE*OUT_W-1:0] q_s3;
    reg v_s3, pfirst_s3, emit_s3, olast_s3;
    // only the configured kind is elaborated (each has its own parameter ROM)
    generate
        if (RQ == 0) begin : g_thresholds
            // Binary search over each channel's sorted thresholds, one tree level per cycle:
            // level l holds the sums, the node h reached (heap index, root 1) and its threshold;
            // sum >= threshold appends a 1 to h. After OUT_W levels h = 2^OUT_W + (thresholds
            // <= sum). ROM word g * 2^OUT_W + h holds node h of group g's channels (lane p:
            // channel g*PE + p); level 0's roots are read with stage 2, level l+1's nodes by
            // level l.
            localparam integer B = OUT_W;
            localparam integer TA = ((NGROUP > 1) ? $clog2(NGROUP) : 0) + B;  // ROM address
            (* rom_style = "logic" *) reg [PE*ACC_W-1:0] trom [0:NGROUP*(1<<B)-1];
            initial $readmemh(R_FILE, trom);
            reg [B*PE*ACC_W-1:0] t_lv;  // level l's node thresholds
            // level l >= 1's state (slice 0 unused: level 0 is stage 2's registers)
            // verilator lint_off UNUSEDSIGNAL
            // verilator lint_off UNDRIVEN
            reg [B*PE*ACC_W-1:0] a_lv;
            reg [B*PE*B-1:0] h_lv;
            reg [B*GW-1:0] g_lv;
            reg [B*3-1:0] f_lv;  // pfirst, emit, olast
            reg [B-1:0] v_lv;
            // verilator lint_on UNDRIVEN
            // verilator lint_on UNUSEDSIGNAL
            // the next state of every level (combinational), then one register update
            reg [B*PE*ACC_W-1:0] a_nx, t_nx;
            reg [B*PE*B-1:0] h_nx;
            reg [B*GW-1:0] g_nx;
            reg [B*3-1:0] f_nx;
            reg [B-1:0] v_nx;
            reg [PE*OUT_W-1:0] q_nx;
            reg v3_nx, pfirst_nx, emit_nx, olast_nx;
            reg [PE*ACC_W-1:0] word;
            reg signed [ACC_W-1:0] ca;
            reg [B-1:0] ch;
            // verilator lint_off UNUSEDSIGNAL
            reg [B:0] hn;  // the node reached; its top bit (the root's 1) drops out
            // verilator lint_on UNUSEDSIGNAL
            reg [GW-1:0] cg;
            reg [2:0] cf;
            reg cv;
            integer l, pt;
            always @* begin
                a_nx = a_lv;
                h_nx = h_lv;
                g_nx = g_lv;
                f_nx = f_lv;
                v_nx = {B{1'b0}};
                q_nx = q_s3;
                word = {PE*ACC_W{1'b0}};
                t_nx[0 +: PE*ACC_W] = trom[TA'({g_a, B'(1)})];  // roots of the group entering s2
                {pfirst_nx, emit_nx, olast_nx} = {pfirst_s3, emit_s3, olast_s3};
                v3_nx = 1'b0;
                for (l = 0; l < B; l = l + 1) begin
                    cg = (l == 0) ? g_s2 : g_lv[l*GW +: GW];
                    cv = (l == 0) ? v_s2 : v_lv[l];
                    cf = (l == 0) ? {pfirst_s2, emit_s2, olast_s2} : f_lv[l*3 +: 3];
                    for (pt = 0; pt < PE; pt = pt + 1) begin
                        ca = (l == 0) ? acc_s2[pt] : a_lv[(l*PE + pt)*ACC_W +: ACC_W];
                        ch = (l == 0) ? B'(1) : h_lv[(l*PE + pt)*B +: B];
                        hn = {ch, ca >= $signed(t_lv[(l*PE + pt)*ACC_W +: ACC_W])};
                        if (l < B - 1) begin
                            word = trom[TA'({cg, hn[B-1:0]})];
                            t_nx[((l+1)*PE + pt)*ACC_W +: ACC_W] = word[pt*ACC_W +: ACC_W];
                            a_nx[((l+1)*PE + pt)*ACC_W +: ACC_W] = ca;
                            h_nx[((l+1)*PE + pt)*B +: B] = hn[B-1:0];
                        end else begin
                            q_nx[pt*OUT_W +: OUT_W] = OUT_W'(OUT_MIN) + hn[B-1:0];
                        end
                    end
                    if (l < B - 1) begin
                        g_nx[(l+1)*GW +: GW] = cg;
                        v_nx[l+1] = cv;
                        f_nx[(l+1)*3 +: 3] = cf;
                    end else begin
                        v3_nx = cv;
                        {pfirst_nx, emit_nx, olast_nx} = cf;
                    end
                end
            end
            always @(posedge clk) begin
                if (rst) begin
                    v_lv <= {B{1'b0}};
                    v_s3 <= 1'b0;
                end else if (adv) begin
                    t_lv <= t_nx;
                    a_lv <= a_nx;
                    h_lv <= h_nx;
                    g_lv <= g_nx;
                    f_lv <= f_nx;
                    v_lv <= v_nx;
                    q_s3 <= q_nx;
                    v_s3 <= v3_nx;
                    {pfirst_s3, emit_s3, olast_s3} <= {pfirst_nx, emit_nx, olast_nx};
                end
            end
        end else begin : g_mulshift
            localparam integer YW = ACC_W + MUL_W + ADD_W + 1;  // holds acc * mul + add exactly
            localparam signed [YW-1:0] Y_MIN = YW'(OUT_MIN);
            localparam signed [YW-1:0] Y_MAX = YW'(OUT_MAX);
            reg [RW*PE-1:0] rrom [0:NGROUP-1];
            initial $readmemh(R_FILE, rrom);
            reg [RW*PE-1:0] r_word;  // the requant parameters of acc_s2's group
            reg [PE*OUT_W-1:0] q_comb;
            reg signed [YW-1:0] y [0:PE-1];
            integer pr;
            always @* begin
                for (pr = 0; pr < PE; pr = pr + 1) begin
                    y[pr] = YW'(acc_s2[pr]) * $signed({1'b0, r_word[pr*RW +: MUL_W]})
                            + YW'($signed(r_word[pr*RW + MUL_W +: ADD_W]));
                    if (RQ == 1) begin
                        y[pr] = y[pr] >>> r_word[pr*RW + MUL_W + ADD_W +: SH_W];
                        if (y[pr] < Y_MIN) y[pr] = Y_MIN;
                        if (y[pr] > Y_MAX) y[pr] = Y_MAX;
                    end
                    q_comb[pr*OUT_W +: OUT_W] = y[pr][OUT_W-1:0];
                end
            end
            always @(posedge clk) begin
                if (rst) begin
                    v_s3 <= 1'b0;
                end else if (adv) begin
                    r_word <= rrom[g_a];
                    v_s3 <= v_s2;
                    pfirst_s3 <= pfirst_s2;
                    emit_s3 <= emit_s2;
                    olast_s3 <= olast_s2;
                    q_s3 <= q_comb;
                end
            end
            // verilator lint_off UNUSEDSIGNAL
            wire unused_g = ^g_s2;
            // verilator lint_on UNUSEDSIGNAL
        end
    endgenerate

    // ---- stage 4: fused max-pool over a rotating queue of the channel groups -----------------
    // queue: NGROUP entries of PE outputs, the current group's at the bottom; every group
    // result pops it (the running max of that group) and pushes the new max on top, so after
    // the last group the queue holds all COUT channels in order, channel 0 lowest
    localparam integer GWD = PE * OUT_W;
    reg [COUT*OUT_W-1:0] queue_reg, queue_next;
    reg [GWD-1:0] best;
    reg signed [OUT_W:0] a_cur, a_new;
    integer pp;
    always @* begin
        for (pp = 0; pp < PE; pp = pp + 1) begin
            a_new = $signed({(OUT_SIGNED != 0) && q_s3[pp*OUT_W + OUT_W - 1],
                             q_s3[pp*OUT_W +: OUT_W]});
            a_cur = $signed({(OUT_SIGNED != 0) && queue_reg[pp*OUT_W + OUT_W - 1],
                             queue_reg[pp*OUT_W +: OUT_W]});
            best[pp*OUT_W +: OUT_W] = (pfirst_s3 || a_new > a_cur) ? q_s3[pp*OUT_W +: OUT_W]
                                                                    : queue_reg[pp*OUT_W +: OUT_W];
        end
    end
    reg [MW-1:0] out_next;  // the output beat when this group completes a (pooled) position
    generate
        if (ARGMAX != 0) begin : g_argmax
            // running best over the groups of the window: group gc's PE lanes in order
            reg [GW-1:0] gc_reg;  // group of the result in q_s3
            reg [IDX_W-1:0] gcb_reg;  // its first channel, gc * PE (a counter)
            reg signed [OUT_W-1:0] bs_reg, bs;
            reg [IDX_W-1:0] bi_reg, bi;
            integer pm;
            always @* begin
                bs = bs_reg;
                bi = bi_reg;
                for (pm = 0; pm < PE; pm = pm + 1) begin
                    if ((gc_reg == {GW{1'b0}} && pm == 0)
                            || $signed(q_s3[pm*OUT_W +: OUT_W]) > bs) begin
                        bs = $signed(q_s3[pm*OUT_W +: OUT_W]);
                        bi = gcb_reg + IDX_W'(pm);
                    end
                end
                out_next = bi;
                queue_next = queue_reg;
            end
            always @(posedge clk) begin
                if (rst) begin
                    gc_reg <= {GW{1'b0}};
                    gcb_reg <= {IDX_W{1'b0}};
                end else if (adv && v_s3) begin
                    gc_reg <= (gc_reg == GW'(NGROUP - 1)) ? {GW{1'b0}} : gc_reg + 1'b1;
                    gcb_reg <= (gc_reg == GW'(NGROUP - 1)) ? {IDX_W{1'b0}} : gcb_reg + IDX_W'(PE);
                    bs_reg <= bs;
                    bi_reg <= bi;
                end
            end
            // verilator lint_off UNUSEDSIGNAL
            wire unused_pool = ^{best, pfirst_s3};
            // verilator lint_on UNUSEDSIGNAL
        end else if (NGROUP == 1 && POOL == 1) begin : g_direct  // the result is the output beat
            always @* queue_next = q_s3;
            always @* out_next = queue_next;
            // verilator lint_off UNUSEDSIGNAL
            wire unused_queue = ^{best, queue_reg, pfirst_s3};
            // verilator lint_on UNUSEDSIGNAL
        end else if (NGROUP == 1) begin : g_one_group
            always @* queue_next = best;
            always @* out_next = queue_next;
        end else begin : g_groups
            always @* queue_next = {best, queue_reg[COUT*OUT_W-1:GWD]};
            always @* out_next = queue_next;
        end
    endgenerate

    wire emit = v_s3 && emit_s3;
    always @(posedge clk) begin
        if (rst) begin
            m_valid_reg <= 1'b0;
        end else if (adv) begin
            if (v_s3) queue_reg <= queue_next;
            m_valid_reg <= emit;
            if (emit) begin
                m_data_reg <= out_next;
                m_last_reg <= olast_s3;
            end
        end
    end

    assign m_axis_tdata = m_data_reg;
    assign m_axis_tlast = m_last_reg;
    assign m_axis_tvalid = m_valid_reg;

endmodule

`resetall
