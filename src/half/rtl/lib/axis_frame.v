// SPDX-License-Identifier: Apache-2.0
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * axis_frame — the input's framing check: windows of L samples, each ended by tlast. A window
 * of exactly L beats with tlast on its last passes unchanged. A short window (tlast on beat
 * k < L - 1) is padded with L - 1 - k zero samples; a long one (no tlast on beat L - 1) is cut
 * after L beats and its extra beats are dropped up to and including the next tlast. Either way
 * the downstream sees whole windows of L samples (one class per window comes out), the faulty
 * window's class is meaningless, the next window is framed correctly again, and `err` is set
 * until reset.
 *
 * Parameters
 *   W       sample width           L       samples per window
 * Ports
 *   clk, rst   clock; synchronous active-high reset (clears `err`, restarts at a window's
 *              first sample)
 *   s_axis_*   input samples, tlast on every window's last sample
 *   m_axis_*   the same samples in whole windows of L (tlast on each L-th beat)
 *   err        sticky: a window was short or long since reset
 * Timing: combinational pass-through (no register, no added latency); one beat per cycle.
 * While padding, s_axis_tready is low for one cycle per missing sample; while dropping,
 * m_axis_tvalid is low.
 */
module axis_frame #(
    parameter integer W = 8,  // sample width
    parameter integer L = 360  // samples per window
) (
    input  wire         clk,
    input  wire         rst,
    input  wire [W-1:0] s_axis_tdata,
    input  wire         s_axis_tlast,
    input  wire         s_axis_tvalid,
    output wire         s_axis_tready,
    output wire [W-1:0] m_axis_tdata,
    output wire         m_axis_tlast,
    output wire         m_axis_tvalid,
    input  wire         m_axis_tready,
    output wire         err
);

    localparam integer PW = $clog2(L + 1);

    generate
        if (L < 2 || W < 1) begin : g_bad
            initial $error("axis_frame: L must be >= 2 and W >= 1 (instance %m)");
        end
    endgenerate

    reg [PW-1:0] pos_reg;  // position of the next beat downstream in its window
    reg pad_reg;  // a short window: zeros go out until it is whole
    reg drop_reg;  // a long window: input beats are dropped up to its tlast
    reg err_reg;
    wire at_end = pos_reg == PW'(L - 1);

    assign m_axis_tdata = pad_reg ? {W{1'b0}} : s_axis_tdata;
    assign m_axis_tvalid = pad_reg || (s_axis_tvalid && !drop_reg);
    assign m_axis_tlast = at_end;
    assign s_axis_tready = drop_reg || (!pad_reg && m_axis_tready);
    assign err = err_reg;

    wire beat = m_axis_tvalid && m_axis_tready;  // a beat goes downstream
    wire taken = s_axis_tvalid && s_axis_tready;  // an input beat is consumed

    always @(posedge clk) begin
        if (rst) begin
            pos_reg <= {PW{1'b0}};
            pad_reg <= 1'b0;
            drop_reg <= 1'b0;
            err_reg <= 1'b0;
        end else begin
            if (beat) pos_reg <= at_end ? {PW{1'b0}} : pos_reg + 1'b1;
            if (pad_reg && beat && at_end) pad_reg <= 1'b0;
            if (drop_reg && taken && s_axis_tlast) drop_reg <= 1'b0;
            if (!pad_reg && !drop_reg && taken) begin
                if (s_axis_tlast && !at_end) begin  // short: pad the rest
                    pad_reg <= 1'b1;
                    err_reg <= 1'b1;
                end
                if (!s_axis_tlast && at_end) begin  // long: drop up to its tlast
                    drop_reg <= 1'b1;
                    err_reg <= 1'b1;
                end
            end
        end
    end

endmodule

`resetall
