// SPDX-License-Identifier: Apache-2.0
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * argmax — index of the largest of N signed scores (the first one on ties), registered.
 *
 * Parameters
 *   N       scores per beat       W       score width (signed)     IDX_W   index width
 * Ports
 *   s_axis_*  one beat of N scores     m_axis_*  the class index (tlast set)
 * Timing: one cycle (a skid-free register; back-pressure holds the input).
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

    reg [IDX_W-1:0] best;
    reg signed [W-1:0] best_score;
    integer i;
    always @* begin
        best = {IDX_W{1'b0}};
        best_score = $signed(s_axis_tdata[0 +: W]);
        for (i = 1; i < N; i = i + 1) begin
            if ($signed(s_axis_tdata[i*W +: W]) > best_score) begin
                best = IDX_W'(i);
                best_score = $signed(s_axis_tdata[i*W +: W]);
            end
        end
    end

    reg valid_reg;
    reg [IDX_W-1:0] idx_reg;
    assign s_axis_tready = !valid_reg || m_axis_tready;
    assign m_axis_tdata = idx_reg;
    assign m_axis_tvalid = valid_reg;
    assign m_axis_tlast = 1'b1;

    always @(posedge clk) begin
        if (rst) begin
            valid_reg <= 1'b0;
        end else if (s_axis_tready) begin
            valid_reg <= s_axis_tvalid;
            if (s_axis_tvalid) idx_reg <= best;
        end
    end

endmodule

`resetall
