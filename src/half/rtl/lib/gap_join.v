// SPDX-License-Identifier: Apache-2.0
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * gap_join — global average pooling and the side-input join: sums each of C channels over a
 * window of L_IN time steps, requantizes the sums to the join type (the division by L_IN is in
 * the requantization parameters), appends the F side features of the window (second input
 * stream) and emits one beat of C + F features. With SIDE_TRAIL > 0 the requantized vectors
 * whose side beats have not come yet wait in a queue of SIDE_TRAIL entries (C x OUT_W bits
 * each, a RAM-style array with a registered read), so that side beats may trail their windows;
 * it costs (SIDE_TRAIL + 1) x C x OUT_W bits (the entries and the read register, which is the
 * output's pooled part) and two pointers. SIDE_TRAIL = 0 is the module without the queue.
 *
 * Parameters
 *   C, L_IN          channels and time steps per window      F   side features (0 = none)
 *   IN_W, IN_SIGNED  input element width / signedness        ACC_W  sum width (signed)
 *   RQ               0 thresholds, 1 multiply-shift          OUT_W, OUT_SIGNED  join type
 *   MUL_W, ADD_W, SH_W  multiply-shift parameter widths      R_FILE  requant ROM (one word
 *                    per channel, layouts as mvu_stage with PE = 1; see half/rtl/mem.py)
 *   SIDE_TRAIL       pooled vectors queued while their side beats are missing (F > 0; 0: no
 *                    queue, the output register holds the only one)
 * Ports
 *   s_axis_*     one time step of C channels per beat
 *   side_axis_*  one beat of F side features per window (ignored when F = 0)
 *   m_axis_*     one beat of C + F features per window (tlast set)
 * Timing (no stalls): the window's sums are copied to a snapshot on its last input beat and
 * requantized one channel per cycle by one multiply-shift (or threshold) unit, so the output
 * beat follows the window's last input beat (and its side beat) by C + 3 cycles (threshold)
 * or C + 4 (multiply-shift: the product is registered before the shift), one cycle more with
 * SIDE_TRAIL > 0 (through the queue); the next window accumulates meanwhile (only its last
 * beat waits while the unit is still busy). With SIDE_TRAIL = 0 the output register is the
 * requantized vector itself: the next window's requantization (and its side beat) waits until
 * the output beat has left. With SIDE_TRAIL > 0 a requantized vector moves to the queue at
 * once (while there is room) and the output register takes the queue's head with its side
 * beat.
 * Side beats missing: while the side beat of window w is missing (those of the windows before
 * it taken), the module takes every beat of windows w .. w + SIDE_TRAIL and all but the last
 * beat of window w + SIDE_TRAIL + 1, i.e. (SIDE_TRAIL + 2) * L_IN - 1 beats from window w's
 * first, whatever m_axis does; then s_axis_tready stays low until that side beat is taken.
 */
module gap_join #(
    parameter integer C = 8,  // channels
    parameter integer L_IN = 16,  // time steps per window
    parameter integer F = 0,  // side features appended after the pooled channels
    parameter integer IN_W = 4,  // input element width
    parameter integer IN_SIGNED = 0,  // input elements signed
    parameter integer ACC_W = 12,  // sum width (signed)
    parameter integer RQ = 1,  // 0 thresholds, 1 multiply-shift
    parameter integer OUT_W = 8,  // join element width
    parameter integer OUT_SIGNED = 1,  // join elements signed
    parameter integer MUL_W = 16,  // multiplier width
    parameter integer ADD_W = 24,  // addend width (signed)
    parameter integer SH_W = 5,  // shift width
    parameter R_FILE = "gap_r.mem",  // requantization parameters, one word per channel
    parameter integer SIDE_TRAIL = 0  // pooled vectors queued while their side beats are missing
) (
    input  wire                     clk,
    input  wire                     rst,
    input  wire [C*IN_W-1:0]        s_axis_tdata,
    input  wire                     s_axis_tlast,
    input  wire                     s_axis_tvalid,
    output wire                     s_axis_tready,
    input  wire [(F > 0 ? F : 1)*OUT_W-1:0] side_axis_tdata,
    input  wire                     side_axis_tvalid,
    output wire                     side_axis_tready,
    output wire [(C+F)*OUT_W-1:0]   m_axis_tdata,
    output wire                     m_axis_tlast,
    output wire                     m_axis_tvalid,
    input  wire                     m_axis_tready
);

    localparam integer NT = (1 << OUT_W) - 1;
    localparam integer RW = (RQ == 0) ? NT * ACC_W : MUL_W + ADD_W + SH_W;
    localparam integer OUT_MIN = (OUT_SIGNED != 0) ? -(1 << (OUT_W - 1)) : 0;
    localparam integer OUT_MAX = (OUT_SIGNED != 0) ? (1 << (OUT_W - 1)) - 1 : (1 << OUT_W) - 1;
    localparam integer YW = ACC_W + MUL_W + ADD_W + 1;
    localparam signed [YW-1:0] Y_MIN = YW'(OUT_MIN);
    localparam signed [YW-1:0] Y_MAX = YW'(OUT_MAX);
    localparam integer SW = (F > 0 ? F : 1) * OUT_W;
    localparam integer TW = $clog2(L_IN + 1);
    localparam integer KW = $clog2(C + 1);
    localparam integer KA = (C > 1) ? $clog2(C) : 1;  // ROM / snapshot index

    generate
        if (C < 1 || L_IN < 1) begin : g_bad
            initial $error("gap_join: C and L_IN must be >= 1 (instance %m)");
        end
        if (SIDE_TRAIL < 0 || (SIDE_TRAIL > 0 && F == 0)) begin : g_bad_trail
            initial $error("gap_join: SIDE_TRAIL must be >= 0, and 0 when F = 0 (instance %m)");
        end
    endgenerate

    reg [RW-1:0] rrom [0:C-1];
    initial $readmemh(R_FILE, rrom);

    // verilator lint_off UNUSEDSIGNAL
    wire unused_tlast = s_axis_tlast;
    // verilator lint_on UNUSEDSIGNAL

    // ---- accumulation: C running sums, one time step per beat --------------------------------
    reg signed [ACC_W-1:0] sum_reg [0:C-1];
    reg signed [ACC_W-1:0] snap_reg [0:C-1];  // the sums of the window being requantized
    reg [TW-1:0] t_reg;
    wire t_end = t_reg == TW'(L_IN - 1);
    reg busy_reg;  // the snapshot is being requantized or waits for the output
    wire take = s_axis_tvalid && !(t_end && busy_reg);
    assign s_axis_tready = !(t_end && busy_reg);
    reg signed [ACC_W-1:0] sum_new [0:C-1];
    integer k;
    always @* begin
        for (k = 0; k < C; k = k + 1) begin
            sum_new[k] = (t_reg == {TW{1'b0}} ? {ACC_W{1'b0}} : sum_reg[k])
                         + ACC_W'($signed({IN_SIGNED != 0 && s_axis_tdata[k*IN_W + IN_W - 1],
                                           s_axis_tdata[k*IN_W +: IN_W]}));
        end
    end
    integer ks;
    always @(posedge clk) begin
        if (take) begin
            for (ks = 0; ks < C; ks = ks + 1) begin
                sum_reg[ks] <= sum_new[ks];
                if (t_end) snap_reg[ks] <= sum_new[ks];
            end
        end
    end

    // ---- requantization: channel k per cycle (read stage, then compute and shift in) ---------
    reg [KW-1:0] k_reg;  // next channel to read
    reg rd_v_reg;  // rd_* hold channel k_reg - 1
    reg [RW-1:0] rd_word;
    reg signed [ACC_W-1:0] rd_sum;
    reg [KW-1:0] n_reg;  // channels requantized so far
    reg [C*OUT_W-1:0] q_reg;  // requantized channels, shifted in from the top
    reg [OUT_W-1:0] q_comb;
    wire q_v;  // q_comb holds the next channel's output
    generate
        if (RQ == 0) begin : g_thresholds
            assign q_v = rd_v_reg;
            reg [OUT_W-1:0] count;
            integer t;
            always @* begin
                count = {OUT_W{1'b0}};
                for (t = 0; t < NT; t = t + 1) begin
                    if (rd_sum >= $signed(rd_word[t*ACC_W +: ACC_W])) count = count + 1'b1;
                end
                q_comb = OUT_W'(OUT_MIN) + count;
            end
        end else begin : g_mulshift
            // multiply-add, registered; then shift and clip
            reg signed [YW-1:0] y_reg, y;
            reg [SH_W-1:0] sh_reg;
            reg v_mul_reg;
            assign q_v = v_mul_reg;
            always @(posedge clk) begin
                v_mul_reg <= !rst && rd_v_reg;
                if (rd_v_reg) begin
                    y_reg <= YW'(rd_sum) * $signed({1'b0, rd_word[0 +: MUL_W]})
                             + YW'($signed(rd_word[MUL_W +: ADD_W]));
                    sh_reg <= rd_word[MUL_W + ADD_W +: SH_W];
                end
            end
            always @* begin
                y = y_reg >>> sh_reg;
                if (y < Y_MIN) y = Y_MIN;
                if (y > Y_MAX) y = Y_MAX;
                q_comb = y[OUT_W-1:0];
            end
        end
    endgenerate

    // ---- the join: the requantized vector in q_reg is handed off (to the output register, or
    // to the queue) on `handoff`, which frees the snapshot and the unit for the next window;
    // the output register takes a vector and its side beat on `leave`
    reg [SW-1:0] side_reg;
    reg side_ok_reg;
    reg m_valid_reg;
    wire done = busy_reg && n_reg == KW'(C);
    wire hold_q;  // q_reg is the output register and may not change yet
    wire handoff, leave;
    wire reading = busy_reg && k_reg != KW'(C) && !hold_q;
    wire [C*OUT_W-1:0] vec_out;  // the output beat's pooled part
    wire [(C+F)*OUT_W-1:0] out_vec;
    generate
        if (SIDE_TRAIL == 0) begin : g_direct
            // the output beat is {side_reg, q_reg} itself: the next window's requantization
            // and side beat wait until it has left
            assign hold_q = m_valid_reg;
            assign handoff = done && (F == 0 || side_ok_reg) && !m_valid_reg;
            assign leave = handoff;
            assign vec_out = q_reg;
        end else begin : g_queue
            // pointers count 0 .. SIDE_TRAIL-1 and flip a lap bit when they wrap (as axis_fifo)
            localparam integer QA = (SIDE_TRAIL > 1) ? $clog2(SIDE_TRAIL) : 1;
            localparam [QA-1:0] Q_LAST = QA'(SIDE_TRAIL - 1);
            reg [C*OUT_W-1:0] queue [0:SIDE_TRAIL-1];
            reg [C*OUT_W-1:0] vec_reg;  // the read register: the output's pooled part
            reg [QA-1:0] q_wr_reg, q_rd_reg;
            reg q_wr_lap_reg, q_rd_lap_reg;
            wire q_same = q_wr_reg == q_rd_reg;
            wire q_empty = q_same && (q_wr_lap_reg == q_rd_lap_reg);
            wire q_full = q_same && (q_wr_lap_reg != q_rd_lap_reg);
            assign hold_q = 1'b0;
            assign handoff = done && !q_full;
            assign leave = !q_empty && side_ok_reg && !m_valid_reg;
            assign vec_out = vec_reg;
            // write port and registered read port (no reset, so that it maps to RAM); never
            // the same address in one cycle (a read needs a stored vector, a write a free entry)
            always @(posedge clk) begin
                if (handoff) queue[q_wr_reg] <= q_reg;
                if (leave) vec_reg <= queue[q_rd_reg];
            end
            always @(posedge clk) begin
                if (rst) begin
                    q_wr_reg <= {QA{1'b0}};
                    q_rd_reg <= {QA{1'b0}};
                    q_wr_lap_reg <= 1'b0;
                    q_rd_lap_reg <= 1'b0;
                end else begin
                    if (handoff) begin
                        q_wr_reg <= (q_wr_reg == Q_LAST) ? {QA{1'b0}} : q_wr_reg + 1'b1;
                        if (q_wr_reg == Q_LAST) q_wr_lap_reg <= !q_wr_lap_reg;
                    end
                    if (leave) begin
                        q_rd_reg <= (q_rd_reg == Q_LAST) ? {QA{1'b0}} : q_rd_reg + 1'b1;
                        if (q_rd_reg == Q_LAST) q_rd_lap_reg <= !q_rd_lap_reg;
                    end
                end
            end
        end
        if (F > 0) begin : g_side
            assign out_vec = {side_reg[F*OUT_W-1:0], vec_out};
        end else begin : g_no_side
            assign out_vec = vec_out;
            // verilator lint_off UNUSEDSIGNAL
            wire unused_side = ^side_reg;
            // verilator lint_on UNUSEDSIGNAL
        end
        if (C == 1) begin : g_one
            always @(posedge clk) if (q_v) q_reg <= q_comb;
        end else begin : g_many
            always @(posedge clk) if (q_v) q_reg <= {q_comb, q_reg[C*OUT_W-1:OUT_W]};
        end
    endgenerate
    assign side_axis_tready = (F > 0) && !side_ok_reg && !m_valid_reg;

    always @(posedge clk) begin
        if (rst) begin
            t_reg <= {TW{1'b0}};
            busy_reg <= 1'b0;
            k_reg <= {KW{1'b0}};
            n_reg <= {KW{1'b0}};
            rd_v_reg <= 1'b0;
            side_ok_reg <= 1'b0;
            m_valid_reg <= 1'b0;
        end else begin
            if (take) begin
                t_reg <= t_end ? {TW{1'b0}} : t_reg + 1'b1;
                if (t_end) begin  // a complete window: requantize its snapshot
                    busy_reg <= 1'b1;
                    k_reg <= {KW{1'b0}};
                    n_reg <= {KW{1'b0}};
                end
            end
            // read channel k_reg (until all C are read), requantize it the next cycle
            rd_v_reg <= reading;
            if (reading) begin
                rd_word <= rrom[k_reg[KA-1:0]];
                rd_sum <= snap_reg[k_reg[KA-1:0]];
                k_reg <= k_reg + 1'b1;
            end
            if (q_v) n_reg <= n_reg + 1'b1;
            if (side_axis_tvalid && side_axis_tready) begin
                side_reg <= side_axis_tdata;
                side_ok_reg <= 1'b1;
            end
            if (m_valid_reg && m_axis_tready) begin
                m_valid_reg <= 1'b0;
            end
            // the requantized window is handed off; with its side beat it leaves when the
            // output register is free
            if (handoff) busy_reg <= 1'b0;
            if (leave) begin
                m_valid_reg <= 1'b1;
                side_ok_reg <= 1'b0;
            end
        end
    end

    assign m_axis_tdata = out_vec;
    assign m_axis_tlast = 1'b1;
    assign m_axis_tvalid = m_valid_reg;

endmodule

`resetall
