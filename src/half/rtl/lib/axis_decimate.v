// SPDX-License-Identifier: Apache-2.0
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * axis_decimate — keeps samples 0, FACTOR, 2*FACTOR, ... of every window of L samples and
 * drops the others; tlast marks the window's last kept sample. With N > 1 samples per input
 * beat (N divides FACTOR and L; sample j of a beat in bits [j*W +: W], the earliest in the
 * lowest bits) the kept samples are lane 0 of every (FACTOR/N)-th beat: L/N beats per window,
 * the same kept samples out, one per beat.
 *
 * Parameters
 *   W       sample width          L       samples per window (input)      FACTOR  keep 1 in FACTOR
 *   N       samples per input beat (1: one; divides FACTOR and L)
 * Ports
 *   s_axis_*  input beats of N samples (N*W bits)     m_axis_*  kept samples (W bits)
 * Timing: combinational pass-through (no register); one input beat per cycle, so a window
 * takes L/N cycles.
 */
module axis_decimate #(
    parameter integer W = 8,  // sample width
    parameter integer L = 360,  // input samples per window
    parameter integer FACTOR = 2,  // keep one sample in FACTOR
    parameter integer N = 1  // samples per input beat (divides FACTOR and L)
) (
    input  wire         clk,
    input  wire         rst,
    input  wire [N*W-1:0] s_axis_tdata,
    input  wire         s_axis_tlast,
    input  wire         s_axis_tvalid,
    output wire         s_axis_tready,
    output wire [W-1:0] m_axis_tdata,
    output wire         m_axis_tlast,
    output wire         m_axis_tvalid,
    input  wire         m_axis_tready
);

    localparam integer L_OUT = (L + FACTOR - 1) / FACTOR;
    localparam integer LB = L / N;  // input beats per window
    localparam integer FB = FACTOR / N;  // keep one beat in FB

    generate
        if (FACTOR < 1 || L < 1 || N < 1) begin : g_bad
            initial $error("axis_decimate: FACTOR, L and N must be >= 1 (instance %m)");
        end
        if (N > 1 && (FACTOR % N != 0 || L % N != 0)) begin : g_bad_n
            initial $error("axis_decimate: N must divide FACTOR and L (instance %m)");
        end
    endgenerate

    // verilator lint_off UNUSEDSIGNAL
    wire unused_tlast = s_axis_tlast;
    // verilator lint_on UNUSEDSIGNAL
    generate
        if (N > 1) begin : g_lanes
            // verilator lint_off UNUSEDSIGNAL
            wire [(N-1)*W-1:0] unused_lanes = s_axis_tdata[N*W-1:W];  // never kept
            // verilator lint_on UNUSEDSIGNAL
        end
    endgenerate

    // the beat's position, its phase (position % FB) and kept beats before it
    // (position / FB), all counters: a division or remainder by a factor that is not a
    // power of two is a divider in logic (with 32-bit positions, a 217 ns path on the UP5K)
    localparam integer PW = $clog2(LB + 1);
    localparam integer FW = (FB > 1) ? $clog2(FB) : 1;
    localparam integer KW = $clog2(L_OUT + 1);
    reg [PW-1:0] pos_reg;
    reg [FW-1:0] phase_reg;
    reg [KW-1:0] kept_reg;
    wire keep = phase_reg == {FW{1'b0}};
    assign m_axis_tdata = s_axis_tdata[W-1:0];
    assign m_axis_tvalid = s_axis_tvalid && keep;
    assign m_axis_tlast = kept_reg == KW'(L_OUT - 1);
    assign s_axis_tready = keep ? m_axis_tready : 1'b1;

    always @(posedge clk) begin
        if (rst) begin
            pos_reg <= {PW{1'b0}};
            phase_reg <= {FW{1'b0}};
            kept_reg <= {KW{1'b0}};
        end else if (s_axis_tvalid && s_axis_tready) begin
            if (pos_reg == PW'(LB - 1)) begin
                pos_reg <= {PW{1'b0}};
                phase_reg <= {FW{1'b0}};
                kept_reg <= {KW{1'b0}};
            end else begin
                pos_reg <= pos_reg + 1'b1;
                if (phase_reg == FW'(FB - 1)) begin
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
