// SPDX-License-Identifier: Apache-2.0
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * axis_decimate — keeps samples 0, FACTOR, 2*FACTOR, ... of every window of L samples and
 * drops the others; tlast marks the window's last kept sample.
 *
 * Parameters
 *   W       sample width          L       samples per window (input)      FACTOR  keep 1 in FACTOR
 * Ports
 *   s_axis_*  input samples (one per beat)     m_axis_*  kept samples
 * Timing: combinational pass-through (no register); one input beat per cycle.
 */
module axis_decimate #(
    parameter integer W = 8,  // sample width
    parameter integer L = 360,  // input samples per window
    parameter integer FACTOR = 2  // keep one sample in FACTOR
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
    input  wire         m_axis_tready
);

    localparam integer L_OUT = (L + FACTOR - 1) / FACTOR;

    generate
        if (FACTOR < 1 || L < 1) begin : g_bad
            initial $error("axis_decimate: FACTOR and L must be >= 1 (instance %m)");
        end
    endgenerate

    // verilator lint_off UNUSEDSIGNAL
    wire unused_tlast = s_axis_tlast;
    // verilator lint_on UNUSEDSIGNAL

    // the sample's position, its phase (position % FACTOR) and kept samples before it
    // (position / FACTOR), all counters: a division or remainder by a FACTOR that is not a
    // power of two is a divider in logic (with 32-bit positions, a 217 ns path on the UP5K)
    localparam integer PW = $clog2(L + 1);
    localparam integer FW = (FACTOR > 1) ? $clog2(FACTOR) : 1;
    localparam integer KW = $clog2(L_OUT + 1);
    reg [PW-1:0] pos_reg;
    reg [FW-1:0] phase_reg;
    reg [KW-1:0] kept_reg;
    wire keep = phase_reg == {FW{1'b0}};
    assign m_axis_tdata = s_axis_tdata;
    assign m_axis_tvalid = s_axis_tvalid && keep;
    assign m_axis_tlast = kept_reg == KW'(L_OUT - 1);
    assign s_axis_tready = keep ? m_axis_tready : 1'b1;

    always @(posedge clk) begin
        if (rst) begin
            pos_reg <= {PW{1'b0}};
            phase_reg <= {FW{1'b0}};
            kept_reg <= {KW{1'b0}};
        end else if (s_axis_tvalid && s_axis_tready) begin
            if (pos_reg == PW'(L - 1)) begin
                pos_reg <= {PW{1'b0}};
                phase_reg <= {FW{1'b0}};
                kept_reg <= {KW{1'b0}};
            end else begin
                pos_reg <= pos_reg + 1'b1;
                if (phase_reg == FW'(FACTOR - 1)) begin
                    phase_reg <= {FW{1'b0}};
                    kept_reg <= kept_reg + 1'b1;
                end else begin
                    phase_reg <= phase_reg + 1'b1;
                end
            end
        end
    end

endmodule

`resetall
