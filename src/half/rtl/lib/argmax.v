// SPDX-License-Identifier: Apache-2.0
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * argmax — index of the largest of N signed scores (the first one on ties), one comparison
 * per cycle (a single W-bit comparator, so the clock is not limited by a chain of N - 1).
 *
 * Parameters
 *   N       scores per beat       W       score width (signed)     IDX_W   index width
 * Ports
 *   s_axis_*  one beat of N scores     m_axis_*  the class index (tlast set)
 * Timing: the index is valid N cycles after its scores were taken (N - 1 comparisons, then
 * the output register); a new beat is taken once the previous one is searched and its index
 * has left or is leaving. Beats arrive once per window (thousands of cycles apart).
 */
module argmax #(
    parameter integer N = 5,  // scores per beat
    parameter integer W = 16,  // score width (signed)
    parameter integer IDX_W = 3  // width of the class index
) (
    input  wire             clk,
    input  wire             rst,
    input  wire [N*W-1:0]   s_axis_tdata,
    input  wire             s_axis_tlast,
    input  wire             s_axis_tvalid,
    output wire             s_axis_tready,
    output wire [IDX_W-1:0] m_axis_tdata,
    output wire             m_axis_tlast,
    output wire             m_axis_tvalid,
    input  wire             m_axis_tready
);

    generate
        if (N < 1 || (1 << IDX_W) < N) begin : g_bad
            initial $error("argmax: IDX_W too narrow for N (instance %m)");
        end
    endgenerate

    // verilator lint_off UNUSEDSIGNAL
    wire unused_tlast = s_axis_tlast;
    // verilator lint_on UNUSEDSIGNAL

    reg busy_reg;  // comparing score i_reg (the lowest of rest_reg) with the best so far
    reg valid_reg;
    reg [IDX_W-1:0] i_reg, best_reg, idx_reg;
    reg signed [W-1:0] best_score;
    reg [N*W-1:0] rest_reg;  // the scores not yet compared, shifted down one per cycle
    wire signed [W-1:0] cand = $signed(rest_reg[0 +: W]);
    wire better = cand > best_score;
    wire out_free = !valid_reg || m_axis_tready;
    wire take = s_axis_tvalid && s_axis_tready;
    wire done = busy_reg && i_reg == IDX_W'(N - 1);
    assign s_axis_tready = !busy_reg && out_free;
    assign m_axis_tdata = idx_reg;
    assign m_axis_tvalid = valid_reg;
    assign m_axis_tlast = 1'b1;

    always @(posedge clk) begin
        if (rst) begin
            busy_reg <= 1'b0;
            valid_reg <= 1'b0;
        end else begin
            if (valid_reg && m_axis_tready) valid_reg <= 1'b0;
            if (take) begin
                best_reg <= {IDX_W{1'b0}};
                best_score <= $signed(s_axis_tdata[0 +: W]);
                i_reg <= IDX_W'(1);
                rest_reg <= s_axis_tdata >> W;
                if (N == 1) begin
                    idx_reg <= {IDX_W{1'b0}};
                    valid_reg <= 1'b1;
                end else begin
                    busy_reg <= 1'b1;
                end
            end else if (busy_reg) begin
                if (better) begin
                    best_reg <= i_reg;
                    best_score <= cand;
                end
                i_reg <= i_reg + 1'b1;
                rest_reg <= rest_reg >> W;
                if (done) begin  // the output register is free: taken beats wait for it
                    busy_reg <= 1'b0;
                    idx_reg <= better ? i_reg : best_reg;
                    valid_reg <= 1'b1;
                end
            end
        end
    end

endmodule

`resetall
